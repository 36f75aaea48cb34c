"""The released datasets a study can train stage 2 on, as a registry: `CONVERTERS[name]`
says what the source is (role, format, where it is published, license), which files of the
release it reads and where its media lie by convention, and reads it
(`lynx_core.data.convert.prepare`). The VQA readers are `lynx_core.data.convert.vqa`, the
text-only ones `lynx_core.data.convert.text`; the caption, conversation, video and
classification ones are here."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from lynx_core.data.convert.prepare import (
    Converter,
    Example,
    Release,
    Scratch,
    Skip,
)
from lynx_core.data.convert.text import BAIZE, alpaca_style, read_baize, read_oig
from lynx_core.data.convert.vqa import (
    VG_IMAGES,
    VG_QUESTIONS,
    read_aokvqa,
    read_gqa,
    read_ocrvqa,
    read_stvqa,
    read_textvqa,
    read_vgqa,
    read_vizwiz,
    vqa_pair,
)

# the paper's own prompts for these tasks (its Table 10); a training file converted with them
# can be re-phrased per variant by the study's templates (`TrainFileConfig.templates`)
CAPTION_INSTRUCTION = "Describe the image briefly."
VIDEO_CAPTION_INSTRUCTION = "Describe the video shortly."
PLACE_QUESTION = "Where is this? Answer with a place name."


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
                release.row_problem(source, "'conversations' must alternate human and gpt turns")
                continue
            yield Example("", "", source, str(row["image"]), conversations=turns)

    return read


def read_msrvtt_qa(release: Release) -> Iterator[Example | Skip]:
    """MSRVTT-QA's `train_qa.json`: a list of `{"id", "video_id", "question", "answer", ...}`;
    videos `videos/video<video_id>.mp4` (MSR-VTT's own names)."""
    for _, source, row in release.records("train_qa.json", "video_id", "question", "answer"):
        video = f"video{row['video_id']}.mp4"
        yield Example(str(row["question"]), str(row["answer"]), source, video=video)


def read_msvd_qa(release: Release) -> Iterator[Example | Skip]:
    """MSVD-QA's `train_qa.json`: a list of `{"answer", "id", "question", "video_id"}`; its
    `youtube_mapping.txt`: a line `<clip> vid<video_id>` per MSVD clip; videos
    `YouTubeClips/<clip>.avi` (MSVD's own names)."""
    with Scratch() as clips:
        clips.put_all(_msvd_clips(release))
        for _, source, row in release.records(MSVD_QA, "video_id", "question", "answer"):
            clip = clips.get(f"vid{row['video_id']}")
            if clip is None:
                yield Skip("the video is not in youtube_mapping.txt", source)
            else:
                yield Example(str(row["question"]), str(row["answer"]), source, video=f"{clip}.avi")


def _msvd_clips(release: Release) -> Iterator[tuple[str, str]]:
    for where, line in release.lines(MSVD_MAPPING):
        fields = line.split()
        if len(fields) != 2 or not fields[1].startswith("vid"):
            why = f"{line!r} is not '<clip> vid<N>' (the format requires a clip and its id)"
            release.row_problem(f"{MSVD_MAPPING}:{where}", why)
            continue
        yield fields[1], fields[0]


def read_places365(release: Release) -> Iterator[Example | Skip]:
    """Places365-Standard's file lists: `categories_places365.txt`, a line `/<letter>/<class>
    <index>` per class (`/a/apartment_building/outdoor 8`), and `places365_train_standard.txt`,
    a line `/<letter>/<class>/<8 digits>.jpg <index>` per image; images `data_256/<that
    path>`. Asked as the paper asks it (Table 10), answered with the class's name
    ("apartment building, outdoor")."""
    names = {index: ", ".join(p.replace("_", " ") for p in path.split("/")[2:])
             for _, path, index in _places_lines(release, PLACES_CLASSES)}  # fmt: skip
    for source, path, index in _places_lines(release, PLACES_TRAIN):
        if index not in names:
            yield Skip("the class index is not in categories_places365.txt", source)
        else:
            yield Example(PLACE_QUESTION, names[index], source, path.lstrip("/"))


def _places_lines(release: Release, name: str) -> Iterator[tuple[str, str, str]]:
    """(source, path, class index) of each line of a Places365 list."""
    for where, line in release.lines(name):
        path, _, index = line.strip().rpartition(" ")
        if not path.startswith("/") or not index.isdigit():
            why = f"{line!r} is not '<path> <index>' (the format requires a path and a class index)"
            release.row_problem(f"{name}:{where}", why)
            continue
        yield f"{name}:{where}", path, index


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


MSVD_QA, MSVD_MAPPING = "train_qa.json", "youtube_mapping.txt"
PLACES_CLASSES, PLACES_TRAIN = "categories_places365.txt", "places365_train_standard.txt"
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
    Converter("vizwiz", "vqa", "VizWiz-VQA train.json from its annotations zip "
              "(vizwiz.org)", "CC BY 4.0", ("train.json",), "train", read_vizwiz),
    Converter("stvqa", "vqa", "ST-VQA train_task_3.json (rrc.cvc.uab.es, Scene Text VQA)",
              "the Robust Reading Competition's terms of use; images keep their own",
              ("train_task_3.json",), "train_images", read_stvqa),
    Converter("vgqa", "vqa", "Visual Genome 1.2 question_answers.json + image_data.json "
              "(visualgenome.org)", "CC BY 4.0", (VG_QUESTIONS, VG_IMAGES), "images",
              read_vgqa),
    Converter("places365", "vqa", "Places365-Standard file lists + data_256 images "
              "(places2.csail.mit.edu)",
              "non-commercial research and education (the images' terms)",
              (PLACES_CLASSES, PLACES_TRAIN), "data_256", read_places365),
    Converter("msvd_qa", "vqa", "MSVD-QA json + youtube_mapping.txt (github.com/xudejing/"
              "video-question-answering) with MSVD's YouTubeClips", RESEARCH,
              (MSVD_QA, MSVD_MAPPING), "YouTubeClips", read_msvd_qa),
    Converter("baize", "text_instruction", "Baize self-chat json (github.com/project-baize/"
              "baize-chatbot, data/)",
              "research use only (its README; generated with ChatGPT, whose terms apply)", BAIZE,
              ".", read_baize),
    Converter("oig_chip2", "text_instruction", "LAION OIG-small-chip2 unified_chip2.jsonl "
              "(Hugging Face hub laion/OIG)", "Apache-2.0", ("unified_chip2.jsonl",), ".",
              read_oig("unified_chip2.jsonl")),
    Converter("alpaca", "text_instruction", "Stanford Alpaca json (github.com/tatsu-lab)",
              NON_COMMERCIAL, ("alpaca_data.json",), ".", alpaca_style("alpaca_data.json")),
    Converter("alpaca_gpt4", "text_instruction", "Alpaca-GPT4 json (github.com/"
              "Instruction-Tuning-with-GPT-4/GPT-4-LLM)", NON_COMMERCIAL,
              ("alpaca_gpt4_data.json",), ".", alpaca_style("alpaca_gpt4_data.json")),
)}
# fmt: on
