"""The data recipe of the Lynx study at paper scale: which released datasets each stage trains
on, in what share, where they are published, and where a sweep reads them by convention.

Source: the paper's training-data appendix (arXiv 2307.02469, Appendix D, Table 9, "Training
Data"; Table 10 for its prompts; section 2.3 for pretraining). Its stage 1 ("pretraining",
~120M image–text pairs) is BlipCapFilt, CC12M, CC3M and SBU, plus small caption sets and the
labelled task data it also finetunes on; its "large-scale noisy" ablation adds COYO-700M and
DataComp-1B. Its stage 2 ("instruction finetuning") mixes ~50 datasets in five kinds: VQA,
classification, captioning (image and video), dialogue, and text-only instructions.

What this project does with it, and where it departs (each said once more in the sweep's
recipe, `sweeps/recipes/lynx-paper-data*.yaml`, and in `findings.md`'s header at paper scale):

- **Stage 1** reads image–text pairs only (caption files: img2dataset webdataset shards). The
  four pair sets keep their Table 9 ratios among themselves; the labelled task data and the
  small caption sets the paper also mixed into pretraining (~54% of its stage-1 samples) are
  left out, as stage 1 here aligns on captions.
- **"w/ large-scale noisy data"** is clean pairs *vs* raw web pairs at the same stage-1 steps
  (COYO-700M and DataComp-1B, ~16x the clean sets' published pairs, replacing them), so that
  the variant changes the data's quality and quantity and nothing else, as at toy scale. The
  paper added them to its clean sets at ratios it does not give; add the clean files back to
  the variant to train that mix instead.
- **Stage 2** keeps the paper's share of each *role* (Table 9's rows summed by kind: image
  VQA and classification 40%, video QA 5%, image captions 1.9%, video captions 10%,
  conversations 13.1%, text-only instructions 30%) and spreads it over the sources a
  converter here reads, in proportion to their own Table 9 shares (LLaVA Reasoning, a VQA
  row there, counts as a conversation: its answers are paragraphs). `PAPER_ONLY` lists the
  rows without a converter (26% of the paper's mixture, by share: Flan V2 15% and VLN
  Caption 5% the largest); their roles' shares fall on the listed sources of the same role.
  Text-only instructions are Baize, OIG-small-chip2 and Alpaca-GPT4 here, at their Table 9
  proportions, carrying Flan V2's and Unnatural Instructions' share too.
- **Places365 is held out** (`HELD_OUT`): a converter reads it, but the recipe does not train
  it, as the generated world holds out its `place` task (`data.prompts.held_out_task`): the
  scene-classification task ("Where is this? Answer with a place name.") is never trained.
  Held out as a dataset, not as knowledge: GQA, Visual Genome QA and LLaVA's descriptions
  still ask and tell where a picture was taken, so Open-VQA's Place questions are not
  zero-shot at paper scale as they are on the generated world. The paper trained on it (5%
  of its mixture, given here to the other image-VQA sources); add its file to a variant's
  `data.train_files` and `data.mixture` to train it as the paper did.
- **LLaVA-Instruct-150K** is the union of its conversation, detail and reasoning files, and
  the recipe trains all four, as the paper's Table 9 does (its "LLaVA Instruction" rows count
  the union's turns): those examples are seen twice, once as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lynx_core.data.convert.sources import CONVERTERS

Stage = Literal["stage1", "stage2"]
IMG2DATASET = (
    "img2dataset --url_list {urls} --input_format {input} --url_col {url} --caption_col "
    "{caption} --output_format webdataset --number_sample_per_shard {per_shard} --output_folder "
    "{out}"
)


@dataclass(frozen=True)
class Source:
    """One dataset of the recipe. `name` is what a sweep calls it: a caption file's `name:`
    (stage 1) or a training file's `task:` (stage 2), so the plan can tell a sweep's sources
    apart and say how to get a missing one."""

    name: str
    stage: Stage
    role: str  # stage 1: clean or noisy captions; stage 2: the converter's role
    paper_rows: str  # the rows of the paper's Table 9 it stands for
    paper_share: float  # their share of the paper's mixture for that stage, in %
    ratio: float  # its ratio in the recipe (a caption file's `ratio`, a task's mixture value)
    released_as: str
    obtain: str  # what to download, where from, and what to run
    path: str  # where the sweep's recipe reads it
    license: str
    pairs: int = 0  # stage 1: the image–text pairs it publishes (URLs; a download gets fewer)
    media_root: str | None = None  # stage 2: where its converted rows' media are found


def _pairs(
    name: str,
    role: str,
    row: str,
    share: float,
    released_as: str,
    urls: str,
    license_: str,
    pairs: int,
    columns: tuple[str, str, str],
    per_shard: int = 10_000,
) -> Source:
    """A stage-1 set of web image–text pairs, published as `pairs` URLs and fetched with
    img2dataset into webdataset shards of `per_shard` (numbered as img2dataset numbers them,
    five digits). A clean set's recipe ratio is its Table 9 share; a noisy set's its size in
    millions (the noisy sets are sampled by size among themselves)."""
    input_format, url, caption = columns
    header = ""
    if input_format == "tsv":  # released without a header row: name the columns first
        first, second = (caption, url) if name == "cc3m" else (url, caption)
        header = f"`sed -i '1s/^/{first}\\t{second}\\n/' {urls}`, then "
    command = IMG2DATASET.format(
        urls=urls, input=input_format, url=url, caption=caption, per_shard=per_shard,
        out=f"data/{name}",
    )  # fmt: skip
    shards = -(-pairs // per_shard)
    ratio = share if role == "clean" else round(pairs / 1e6)
    return Source(
        name, "stage1", role, row, share, ratio, released_as,
        f"download {urls}; run {header}`{command}`",
        f"data/{name}/{{00000..{shards - 1:05d}}}.tar",
        license_, pairs,
    )  # fmt: skip


WEB = "the images keep their own terms (web-crawled; URLs only are distributed)"

# fmt: off
STAGE1: tuple[Source, ...] = (
    _pairs("blipcapfilt", "clean", "BlipCapFilt", 30.525,
           "BLIP CapFilt-L synthetic captions of LAION-115M, json of url + caption "
           "(github.com/salesforce/LAVIS, dataset card 'laion')",
           "laion_synthetic_filtered_large.json", f"BSD-3-Clause (captions); {WEB}",
           115_000_000, ("json", "url", "caption")),
    _pairs("cc12m", "clean", "CC12M", 2.465,
           "Conceptual 12M tsv of url + caption (github.com/google-research-datasets/"
           "conceptual-12m)", "cc12m.tsv", f"CC12M's own terms (free use, attribution); {WEB}",
           12_423_374, ("tsv", "url", "caption")),
    _pairs("cc3m", "clean", "CC3M", 10.076,
           "Conceptual Captions 3M tsv of caption + url (ai.google.com/research/"
           "ConceptualCaptions)", "Train_GCC-training.tsv", f"CC3M's own terms; {WEB}",
           3_318_333, ("tsv", "url", "caption")),
    _pairs("sbu", "clean", "SBU", 2.987,
           "SBU Captioned Photos, 1M url + caption (www.cs.rice.edu/~vo9/sbucaptions)",
           "sbu-captions-all.json", f"research use; {WEB}", 1_000_000,
           ("json", "image_urls", "captions")),
    _pairs("coyo700m", "noisy", "COYO-700M (the paper's noisy ablation)", 0.0,
           "COYO-700M parquet of url + text (Hugging Face hub kakaobrain/coyo-700m)",
           "coyo-700m parquet files", f"CC BY 4.0 (metadata); {WEB}", 746_972_269,
           ("parquet", "url", "text")),
    _pairs("datacomp1b", "noisy", "DataComp-1B (the paper's noisy ablation)", 0.0,
           "DataComp-1B parquet of url + text (Hugging Face hub mlfoundations/datacomp_1b)",
           "datacomp_1b parquet files", f"CC BY 4.0 (metadata); {WEB}", 1_387_605_888,
           ("parquet", "url", "text"), per_shard=20_000),
)
# fmt: on

# Table 9's finetuning share of each row a converter here reads, by the row's kind.
STAGE2_ROWS: dict[str, tuple[str, float]] = {
    "ocrvqa": ("OCRVQA", 12.349),
    "vgqa": ("VGQA", 10.880),
    "gqa": ("GQA", 3.999),
    "vqav2": ("VQAv2", 3.449),
    "textvqa": ("TextVQA", 0.478),
    "stvqa": ("STVQA", 0.359),
    "vizwiz": ("VizWiz", 0.087),
    "okvqa": ("OKVQA", 0.038),
    "msrvtt_qa": ("MSR-VTT-QA", 3.137),
    "msvd_qa": ("MSVD-QA", 0.611),
    "llava_detail": ("LLaVA Caption", 0.945),
    "sthv2": ("SthV2", 5.000),
    "llava_instruct": ("LLaVA Instruction", 5.845),
    "llava_conversation": ("LLaVA Dialog", 4.155),
    "llava_reasoning": ("LLaVA Reasoning", 3.119),
    "baize": ("Baize", 10.000),
    "oig_chip2": ("LAION OIG Small", 3.884),
    "alpaca_gpt4": ("Alpaca GPT4", 0.955),
}

# Table 9's finetuning rows no converter here reads: (share %, the recipe role it counts in).
PAPER_ONLY: dict[str, tuple[float, str]] = {
    "Visual7W": (0.593, "image_vqa"), "WebSRC": (1.814, "image_vqa"),
    "NLVR2": (0.671, "image_vqa"), "WikiArt": (0.180, "image_vqa"), "HAR": (0.053, "image_vqa"),
    "TimeClassification": (0.049, "image_vqa"),
    "VLN VQA": (0.629, "video_vqa"), "NeXT-QA": (0.623, "video_vqa"),
    "Visual Genome Caption": (0.798, "image_captioning"),
    "MiniGPT4 IFT": (0.138, "image_captioning"), "VLN Caption": (5.000, "video_captioning"),
    "Flan V2": (15.000, "text_instruction"),
    "Unnatural Instruction": (0.161, "text_instruction"),
}  # fmt: skip

# Table 9's finetuning rows a converter here reads that the recipe holds out, as the generated
# world holds out its place task: Places365 is the paper's place classification (other sources
# still ask where a picture was taken: a dataset held out, not knowledge). (share %, role), as
# PAPER_ONLY.
HELD_OUT: dict[str, tuple[float, str]] = {"Places365": (5.000, "image_vqa")}

RECIPE_ROLE = {  # each covered source's role in the share arithmetic above
    "ocrvqa": "image_vqa", "vgqa": "image_vqa", "gqa": "image_vqa", "vqav2": "image_vqa",
    "textvqa": "image_vqa", "stvqa": "image_vqa", "vizwiz": "image_vqa", "okvqa": "image_vqa",
    "msrvtt_qa": "video_vqa", "msvd_qa": "video_vqa", "llava_detail": "image_captioning",
    "sthv2": "video_captioning", "llava_instruct": "conversation",
    "llava_conversation": "conversation", "llava_reasoning": "conversation",
    "baize": "text_instruction", "oig_chip2": "text_instruction",
    "alpaca_gpt4": "text_instruction",
}  # fmt: skip
BENCHMARKS = "data/open_vqa/Open_VQA_images.jsonl data/open_vqa/Open_VQA_videos.jsonl " + (
    "data/MME_Benchmark_release_version data/OwlEval/questions.jsonl"
)


def role_shares() -> dict[str, float]:
    """The paper's stage-2 share of each recipe role, in % (Table 9's rows summed by kind)."""
    shares: dict[str, float] = {}
    for name, (_, share) in STAGE2_ROWS.items():
        shares[RECIPE_ROLE[name]] = shares.get(RECIPE_ROLE[name], 0.0) + share
    for share, role in (*PAPER_ONLY.values(), *HELD_OUT.values()):
        shares[role] = shares.get(role, 0.0) + share
    return shares


def stage2_mixture() -> dict[str, float]:
    """Each covered source's ratio in the recipe's stage-2 mixture (%, summing to 100): its
    role's paper share, spread over the role's covered sources by their own paper shares."""
    covered: dict[str, float] = {}
    for name, (_, share) in STAGE2_ROWS.items():
        covered[RECIPE_ROLE[name]] = covered.get(RECIPE_ROLE[name], 0.0) + share
    roles = role_shares()
    return {
        name: round(share * roles[RECIPE_ROLE[name]] / covered[RECIPE_ROLE[name]], 3)
        for name, (_, share) in STAGE2_ROWS.items()
    }


def _stage2(name: str, mixture: dict[str, float]) -> Source:
    converter = CONVERTERS[name]
    row, share = STAGE2_ROWS[name]
    obtain = (
        f"put {', '.join(converter.files)} in data/{name}/ and its media in data/{name}/"
        f"{converter.media}/; run `python -m ablations data prepare {name} --from data/{name} "
        f"--exclude {BENCHMARKS}`"
    )
    return Source(
        name, "stage2", converter.role, row, share, mixture[name],
        converter.released_as, obtain, f"data/{name}/train.jsonl", converter.license,
        media_root=None if converter.media == "." else f"data/{name}/{converter.media}",
    )  # fmt: skip


SOURCES: dict[str, Source] = {
    s.name: s for s in (*STAGE1, *(_stage2(name, stage2_mixture()) for name in STAGE2_ROWS))
}
