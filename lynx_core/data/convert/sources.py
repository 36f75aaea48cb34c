"""The released datasets a study can train stage 2 on, as a registry: `CONVERTERS[name]`
says what the source is (role, format, where it is published, license), which files of the
release it reads and where its media lie by convention, and reads it
(`lynx_core.data.convert.prepare`). The VQA readers are `lynx_core.data.convert.vqa`; the
caption, conversation, video and text-only ones are here."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from lynx_core.data.convert.prepare import (
    Converter,
    Example,
    Release,
    Scratch,
    Skip,
)
from lynx_core.data.convert.vqa import read_aokvqa, read_gqa, read_ocrvqa, read_textvqa, vqa_pair

# the paper's own prompts for these tasks (its Table 10); a training file converted with them
# can be re-phrased per variant by the study's templates (`TrainFileConfig.templates`)
CAPTION_INSTRUCTION = "Describe the image briefly."
VIDEO_CAPTION_INSTRUCTION = "Describe the video shortly."


def read_coco_captions(release: Release) -> Iterator[Example | Skip]:
    """`captions_train2017.json`: `{"images": [{"id", "file_name", ...}], "annotations":
    [{"image_id", "caption", ...}], ...}`, joined by image id (two passes: the release may list
    either first)."""
    name = "annotations/captions_train2017.json"
    with Scratch() as images:
        listed = release.records(name, "id", "file_name", member="images")
        images.put_all((row["id"], row["file_name"]) for _, _, row in listed)
        for _, source, row in release.records(name, "image_id", "caption", member="annotations"):
            image = images.get(row["image_id"])
            if image is None:
                yield Skip("the image is not listed", source)
            else:
                yield _caption(row["caption"], source, str(image))


def _caption(caption: object, source: str, image: str) -> Example | Skip:
    text = str(caption).strip()
    return (
        Example(CAPTION_INSTRUCTION, text, source, image) if text else Skip("empty caption", source)
    )


def read_textcaps(release: Release) -> Iterator[Example | Skip]:
    """`TextCaps_0.1_train.json`: `{"data": [{"image_id", "caption_str", "image_path", ...}],
    ...}`; images `train_images/<image_id>.jpg`."""
    rows = release.records("TextCaps_0.1_train.json", "image_id", "caption_str", member="data")
    for _, source, row in rows:
        yield _caption(row["caption_str"], source, f"{row['image_id']}.jpg")


def llava_conversations(name: str) -> Callable[[Release], Iterator[Example | Skip]]:
    """A reader of one of LLaVA-Instruct's json files (`llava_instruct_150k.json`,
    `conversation_58k.json`, `detail_23k.json`, `complex_reasoning_77k.json`): a list of
    `{"id", "image", "conversations": [{"from": "human" | "gpt", "value"}, ...]}`: already a
    training format; kept whole (a conversation's later turns train with its earlier ones as
    history), checked row by row."""

    def read(release: Release) -> Iterator[Example | Skip]:
        for _, source, row in release.records(name, "image", "conversations"):
            turns = row["conversations"]
            speakers = (
                [t.get("from") if isinstance(t, dict) else None for t in turns]
                if isinstance(turns, list)
                else []
            )
            alternate = speakers == ["human", "gpt"] * (len(speakers) // 2)
            if not speakers or not alternate or len(speakers) % 2:
                where = source.removeprefix(f"{name}:")
                release.problem(
                    release.files[name], where, "'conversations' must alternate human and gpt turns"
                )
                continue
            yield Example("", "", source, str(row["image"]), conversations=turns)

    return read


def read_msrvtt_qa(release: Release) -> Iterator[Example | Skip]:
    """MSRVTT-QA's `train_qa.json`: a list of `{"id", "video_id", "question", "answer", ...}`;
    videos `videos/video<video_id>.mp4` (MSR-VTT's own names)."""
    for _, source, row in release.records("train_qa.json", "video_id", "question", "answer"):
        video = f"video{row['video_id']}.mp4"
        yield Example(str(row["question"]), str(row["answer"]), source, video=video)


def alpaca_style(name: str) -> Callable[[Release], Iterator[Example | Skip]]:
    """A reader of an Alpaca-format json (`alpaca_data.json`, Alpaca-GPT4's
    `alpaca_gpt4_data.json`): a list of `{"instruction", "input", "output"}`; text only, the
    input (if any) after the instruction."""

    def read(release: Release) -> Iterator[Example | Skip]:
        for _, source, row in release.records(name, "instruction", "output"):
            extra = str(row.get("input") or "").strip()
            instruction = str(row["instruction"]).strip() + (f"\n{extra}" if extra else "")
            output = str(row["output"]).strip()
            yield Example(instruction, output, source) if output else Skip("empty output", source)

    return read


def read_sthv2(release: Release) -> Iterator[Example | Skip]:
    """Something-Something v2's `something-something-v2-train.json`: a list of `{"id",
    "label", "template", "placeholders"}`, the label a sentence about the clip ("Putting a
    cup onto a table"); videos `20bn-something-something-v2/<id>.webm`. The paper trains on
    it as video captioning ("Describe the video shortly.")."""
    rows = release.records("something-something-v2-train.json", "id", "label")
    for _, source, row in rows:
        label = str(row["label"]).strip()
        if not label:
            yield Skip("empty label", source)
            continue
        caption = label[0].upper() + label[1:] + ("" if label.endswith(".") else ".")
        yield Example(VIDEO_CAPTION_INSTRUCTION, caption, source, video=f"{row['id']}.webm")


def _coco_2014(image_id: int) -> str:
    return f"COCO_train2014_{image_id:012d}.jpg"


VQAV2 = ("v2_OpenEnded_mscoco_train2014_questions.json", "v2_mscoco_train2014_annotations.json")
OKVQA = ("OpenEnded_mscoco_train2014_questions.json", "mscoco_train2014_annotations.json")
CC_BY_4 = "CC BY 4.0 (annotations); the images keep their own (COCO: Flickr terms)"
NON_COMMERCIAL = "CC BY-NC 4.0 (generated by OpenAI models: their terms of use apply)"
RESEARCH = "research use only; the media keep their own terms"
LLAVA, LLAVA_DIALOG = "llava_instruct_150k.json", "conversation_58k.json"
LLAVA_REASONING, LLAVA_DETAIL = "complex_reasoning_77k.json", "detail_23k.json"
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
              NON_COMMERCIAL, (LLAVA,), "train2017", llava_conversations(LLAVA)),
    Converter("llava_conversation", "conversation",
              "LLaVA-Instruct-150K's conversation_58k.json (Hugging Face hub)", NON_COMMERCIAL,
              (LLAVA_DIALOG,), "train2017", llava_conversations(LLAVA_DIALOG)),
    Converter("llava_reasoning", "conversation",
              "LLaVA-Instruct-150K's complex_reasoning_77k.json (Hugging Face hub)",
              NON_COMMERCIAL, (LLAVA_REASONING,), "train2017",
              llava_conversations(LLAVA_REASONING)),
    Converter("llava_detail", "captioning", "LLaVA-Instruct-150K's detail_23k.json (Hugging "
              "Face hub)", NON_COMMERCIAL, (LLAVA_DETAIL,), "train2017",
              llava_conversations(LLAVA_DETAIL)),
    Converter("msrvtt_qa", "vqa", "MSRVTT-QA json (github.com/xudejing/video-question-answering)",
              RESEARCH, ("train_qa.json",), "videos", read_msrvtt_qa),
    Converter("sthv2", "captioning", "Something-Something v2 labels json + webm clips "
              "(Qualcomm developer site)", "Qualcomm's research license (non-commercial)",
              ("something-something-v2-train.json",), "20bn-something-something-v2", read_sthv2),
    Converter("alpaca", "text_instruction", "Stanford Alpaca json (github.com/tatsu-lab)",
              NON_COMMERCIAL, ("alpaca_data.json",), ".", alpaca_style("alpaca_data.json")),
    Converter("alpaca_gpt4", "text_instruction", "Alpaca-GPT4 json (github.com/"
              "Instruction-Tuning-with-GPT-4/GPT-4-LLM)", NON_COMMERCIAL,
              ("alpaca_gpt4_data.json",), ".", alpaca_style("alpaca_gpt4_data.json")),
)}
# fmt: on
