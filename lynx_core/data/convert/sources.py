"""The released datasets a study can train stage 2 on, as a registry: `CONVERTERS[name]`
says what the source is (role, format, where it is published, license), which files of the
release it reads and where its media lie by convention, and reads it
(`lynx_core.data.convert.prepare`). The VQA readers are `lynx_core.data.convert.vqa`; the
caption, conversation, video and text-only ones are here."""

from __future__ import annotations

from collections.abc import Iterator

from lynx_core.data.convert.prepare import (
    Converter,
    Example,
    Release,
    Scratch,
    Skip,
)
from lynx_core.data.convert.vqa import read_aokvqa, read_gqa, read_ocrvqa, read_textvqa, vqa_pair

CAPTION_INSTRUCTION = "Describe the image briefly."  # the prompt pools wrap it per variant


def read_coco_captions(release: Release) -> Iterator[Example | Skip]:
    """`captions_train2017.json`: `{"images": [{"id", "file_name", ...}], "annotations":
    [{"image_id", "caption", ...}], ...}`, joined by image id (two passes: the release may list
    either first)."""
    name = "annotations/captions_train2017.json"
    with Scratch() as images:
        images.put_all(
            (row["id"], row["file_name"])
            for key, where, row in release.members(name)
            if key == "images" and release.fields(name, where, row, "id", "file_name")
        )
        for key, where, row in release.members(name):
            if key != "annotations":
                continue
            row = release.fields(name, where, row, "image_id", "caption")
            if row is None:
                continue
            source, image = f"{name}:{where}", images.get(row["image_id"])
            caption = str(row["caption"]).strip()
            if image is None:
                yield Skip("the image is not listed", source)
            elif not caption:
                yield Skip("empty caption", source)
            else:
                yield Example(CAPTION_INSTRUCTION, caption, source, str(image))


def read_textcaps(release: Release) -> Iterator[Example | Skip]:
    """`TextCaps_0.1_train.json`: `{"data": [{"image_id", "caption_str", "image_path", ...}],
    ...}`; images `train_images/<image_id>.jpg`."""
    name = "TextCaps_0.1_train.json"
    for key, where, row in release.members(name):
        if key != "data":
            continue
        row = release.fields(name, where, row, "image_id", "caption_str")
        if row is None:
            continue
        caption, source = str(row["caption_str"]).strip(), f"{name}:{where}"
        if not caption:
            yield Skip("empty caption", source)
            continue
        yield Example(CAPTION_INSTRUCTION, caption, source, f"{row['image_id']}.jpg")


def read_llava_instruct(release: Release) -> Iterator[Example | Skip]:
    """`llava_instruct_150k.json`: a list of `{"id", "image", "conversations": [{"from":
    "human" | "gpt", "value"}, ...]}`: already a training format; kept whole (a conversation's
    later turns train with its earlier ones as history), checked row by row."""
    name = "llava_instruct_150k.json"
    for where, row in release.rows(name):
        row = release.fields(name, where, row, "image", "conversations")
        if row is None:
            continue
        turns = row["conversations"]
        speakers = (
            [t.get("from") if isinstance(t, dict) else None for t in turns]
            if isinstance(turns, list)
            else None
        )
        if not speakers or len(speakers) % 2 or speakers != ["human", "gpt"] * (len(speakers) // 2):
            release.problem(
                release.files[name], where, "'conversations' must alternate human and gpt turns"
            )
            continue
        yield Example("", "", f"{name}:{where}", str(row["image"]), conversations=turns)


def read_msrvtt_qa(release: Release) -> Iterator[Example | Skip]:
    """MSRVTT-QA's `train_qa.json`: a list of `{"id", "video_id", "question", "answer", ...}`;
    videos `videos/video<video_id>.mp4` (MSR-VTT's own names)."""
    name = "train_qa.json"
    for where, row in release.rows(name):
        row = release.fields(name, where, row, "video_id", "question", "answer")
        if row is not None:
            video = f"video{row['video_id']}.mp4"
            yield Example(str(row["question"]), str(row["answer"]), f"{name}:{where}", video=video)


def read_alpaca(release: Release) -> Iterator[Example | Skip]:
    """Stanford Alpaca's `alpaca_data.json`: a list of `{"instruction", "input", "output"}`;
    text only, the input (if any) after the instruction."""
    name = "alpaca_data.json"
    for where, row in release.rows(name):
        row = release.fields(name, where, row, "instruction", "output")
        if row is None:
            continue
        extra = str(row.get("input") or "").strip()
        instruction = str(row["instruction"]).strip() + (f"\n{extra}" if extra else "")
        source = f"{name}:{where}"
        if not str(row["output"]).strip():
            yield Skip("empty output", source)
            continue
        yield Example(instruction, str(row["output"]).strip(), source)


def _coco_2014(image_id: int) -> str:
    return f"COCO_train2014_{image_id:012d}.jpg"


VQAV2 = ("v2_OpenEnded_mscoco_train2014_questions.json", "v2_mscoco_train2014_annotations.json")
OKVQA = ("OpenEnded_mscoco_train2014_questions.json", "mscoco_train2014_annotations.json")
CC_BY_4 = "CC BY 4.0 (annotations); the images keep their own (COCO: Flickr terms)"
NON_COMMERCIAL = "CC BY-NC 4.0 (generated by OpenAI models: their terms of use apply)"
RESEARCH = "research use only; the media keep their own terms"
TEXT_IN_IMAGES = "CC BY 4.0 (annotations); images from Open Images (CC BY 2.0)"

# fmt: off
CONVERTERS: dict[str, Converter] = {c.name: c for c in (
    Converter("coco_captions", "captioning", "COCO Captions 2017 json (cocodataset.org)",
              CC_BY_4, ("annotations/captions_train2017.json",), "train2017", read_coco_captions),
    Converter("textcaps", "captioning", "TextCaps 0.1 json (textvqa.org/textcaps)",
              TEXT_IN_IMAGES, ("TextCaps_0.1_train.json",), "train_images", read_textcaps),
    Converter("vqav2", "vqa", "VQAv2 questions + annotations json (visualqa.org)",
              CC_BY_4, VQAV2, "train2014", vqa_pair(*VQAV2, _coco_2014)),
    Converter("okvqa", "vqa", "OK-VQA json in VQAv2's layout (okvqa.allenai.org)",
              CC_BY_4, OKVQA, "train2014", vqa_pair(*OKVQA, _coco_2014)),
    Converter("aokvqa", "vqa", "A-OKVQA v1.0 json (github.com/allenai/aokvqa)",
              "Apache-2.0 (annotations)", ("aokvqa_v1p0_train.json",), "train2017", read_aokvqa),
    Converter("gqa", "vqa", "GQA balanced questions json (cs.stanford.edu/people/dorarad/gqa)",
              "CC BY 4.0", ("train_balanced_questions.json",), "images", read_gqa),
    Converter("textvqa", "vqa", "TextVQA 0.5.1 json (textvqa.org)",
              TEXT_IN_IMAGES, ("TextVQA_0.5.1_train.json",), "train_images", read_textvqa),
    Converter("ocrvqa", "vqa", "OCR-VQA dataset.json + its download script (ocr-vqa.github.io)",
              RESEARCH, ("dataset.json",), "images", read_ocrvqa),
    Converter("llava_instruct", "conversation", "LLaVA-Instruct-150K json (Hugging Face hub)",
              NON_COMMERCIAL, ("llava_instruct_150k.json",), "train2017", read_llava_instruct),
    Converter("msrvtt_qa", "vqa", "MSRVTT-QA json (github.com/xudejing/video-question-answering)",
              RESEARCH, ("train_qa.json",), "videos", read_msrvtt_qa),
    Converter("alpaca", "text_instruction", "Stanford Alpaca json (github.com/tatsu-lab)",
              NON_COMMERCIAL, ("alpaca_data.json",), ".", read_alpaca),
)}
# fmt: on
