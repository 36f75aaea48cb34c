"""The world's scenes and clips drawn as pixels: shapes on a background that names the place, a
sign's word in a small font (so that low resolution blurs look-alike words), a clip's
frames with the moving shape stepped along its direction."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lynx_core.data.world.toyworld import (
    COLORS,
    FRAMES,
    RADIUS,
    RENDER_SIZE,
    SLOT_X,
    SLOT_Y,
    Clip,
    Scene,
    moved_position,
)

_SIGN_Y = 42


def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default(size=9)  # Pillow's bundled font: same pixels everywhere


def _box(x: int, y: int, r: int) -> tuple[int, int, int, int]:
    return x - r, y - r, x + r, y + r


def _draw_cross(draw: ImageDraw.ImageDraw, x: int, y: int, r: int, fill) -> None:
    arm = max(r // 3, 1)
    draw.rectangle((x - r, y - arm, x + r, y + arm), fill=fill)
    draw.rectangle((x - arm, y - r, x + arm, y + r), fill=fill)


SHAPE_DRAWERS = {  # shape → how it is drawn at centre (x, y) with radius r
    "circle": lambda d, x, y, r, fill: d.ellipse(_box(x, y, r), fill=fill),
    "square": lambda d, x, y, r, fill: d.rectangle(_box(x, y, r), fill=fill),
    "triangle": lambda d, x, y, r, fill: d.polygon(
        [(x, y - r), (x - r, y + r), (x + r, y + r)], fill=fill
    ),
    "diamond": lambda d, x, y, r, fill: d.polygon(
        [(x, y - r), (x + r, y), (x, y + r), (x - r, y)], fill=fill
    ),
    "cross": _draw_cross,
    "ring": lambda d, x, y, r, fill: d.ellipse(_box(x, y, r), outline=fill, width=3),
}


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, x: int, y: int, r: int, fill) -> None:
    SHAPE_DRAWERS[shape](draw, x, y, r, fill)


def _background(place: str | None) -> Image.Image:
    size = RENDER_SIZE
    image = Image.new("RGB", (size, size), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    if place == "beach":
        draw.rectangle((0, 0, size, size // 2), fill=(200, 225, 245))
        draw.rectangle((0, size // 2, size, size), fill=(240, 228, 195))
    elif place == "forest":
        image.paste((205, 232, 205), (0, 0, size, size))
        for x in range(0, size, 8):
            draw.rectangle((x, 0, x + 2, size), fill=(165, 205, 165))
    elif place == "street":
        image.paste((195, 195, 195), (0, 0, size, size))
        for x in range(0, size, 12):
            draw.rectangle((x, size // 2 - 1, x + 6, size // 2 + 1), fill=(250, 250, 250))
    elif place == "snow":
        image.paste((250, 250, 250), (0, 0, size, size))
        for i in range(0, size, 6):
            draw.point([(i, (i * 7) % size), ((i * 5) % size, i)], fill=(215, 215, 230))
    return image


def render(scene: Scene) -> np.ndarray:
    """(RENDER_SIZE, RENDER_SIZE, 3) uint8."""
    image = _background(scene.place)
    draw = ImageDraw.Draw(image)
    for slot in scene.slots:
        row, col = divmod(slot, 3)
        x, y = SLOT_X[col] + scene.offset[0], SLOT_Y[row] + scene.offset[1]
        _draw_shape(draw, scene.shape, x, y, RADIUS, COLORS[scene.color])
    if scene.word:
        x = scene.sign_x
        draw.rectangle((x, _SIGN_Y, x + 28, _SIGN_Y + 14), fill=(255, 255, 255), outline=(0, 0, 0))
        draw.text((x + 3, _SIGN_Y + 2), scene.word, fill=(0, 0, 0), font=_font())
    return np.asarray(image)


def render_clip(clip: Clip) -> np.ndarray:
    """(FRAMES, RENDER_SIZE, RENDER_SIZE, 3) uint8 on a plain background."""
    frames = []
    for t in range(FRAMES):
        image = _background(None)
        draw = ImageDraw.Draw(image)
        if clip.kind == "order":  # first colour in the first half, second in the second half
            color = clip.colors[0] if t < FRAMES // 2 else clip.colors[1]
            _draw_shape(draw, clip.shape, *clip.start, 9, COLORS[color])
        else:
            x, y = moved_position(clip.start, clip.direction, t)
            _draw_shape(draw, clip.shape, x, y, 9, COLORS[clip.colors[0]])
        frames.append(np.asarray(image))
    return np.stack(frames)
