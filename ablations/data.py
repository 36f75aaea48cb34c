"""`python -m ablations data {sources,prepare}`: the released stage-2 datasets a study can train
on, and their conversion, once, into training files (`lynx_core.data.convert`).

    python -m ablations data sources
    python -m ablations data prepare ocrvqa --from data/ocrvqa \
        --exclude data/open_vqa/Open_VQA_images.jsonl data/OwlEval/questions.jsonl

A conversion streams the release (memory does not grow with it), writes the training file
and its manifest (counts, skipped rows by reason, the first few named) atomically, and
refuses a malformed release with every problem's file and line, writing nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lynx_core.data.convert.prepare import ConvertError, manifest_path, missing_files, prepare
from lynx_core.data.convert.recipe import HELD_OUT, PAPER_ONLY, SOURCES, role_shares
from lynx_core.data.convert.sources import CONVERTERS

EXIT_BAD_INPUT = 2


def add_data_command(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="released datasets: list them, convert one")
    actions = data.add_subparsers(dest="action", required=True)
    actions.add_parser("sources", help="the datasets a converter reads, and what each is")
    actions.add_parser(
        "recipe", help="the study's data at paper scale (the paper's Table 9): sources, shares"
    )
    prepare_ = actions.add_parser("prepare", help="convert a release into a training file")
    prepare_.add_argument("source", choices=sorted(CONVERTERS))
    prepare_.add_argument("--from", dest="release", required=True, help="the release's folder")
    prepare_.add_argument(
        "--out", default=None, help="the training file (default: <release>/train.jsonl)"
    )
    prepare_.add_argument(
        "--exclude",
        nargs="*",
        default=[],
        metavar="BENCHMARK",
        help="benchmark files or folders (Open-VQA, MME, OwlEval) whose images and videos no "
        "converted row may show",
    )


def cmd_data(args, console: Console) -> int:
    if args.action == "sources":
        table = Table("source", "role", "released as", "reads", "media", "license")
        for c in CONVERTERS.values():
            table.add_row(c.name, c.role, c.released_as, "\n".join(c.files), c.media, c.license)
        console.print(table)
        return 0
    if args.action == "recipe":
        print_recipe(console)
        return 0
    converter, release = CONVERTERS[args.source], Path(args.release)
    out = Path(args.out) if args.out else release / "train.jsonl"
    with console.status(f"converting {converter.name} from {release}"):
        try:
            manifest = prepare(converter, release, out, [Path(b) for b in args.exclude])
        except ConvertError as err:
            console.print(f"[red]{converter.name}: {err}[/red]", highlight=False)
            if missing_files(converter, release):
                console.print(f"{converter.name} is {converter.released_as}; put it in {release}")
            return EXIT_BAD_INPUT
    skipped = ", ".join(f"{n:,} {why}" for why, n in manifest["skipped"].items()) or "none"
    console.print(
        f"{converter.name}: {manifest['examples']:,} examples in {out} (skipped: {skipped}); "
        f"media under {manifest['media_root']}; manifest {manifest_path(out)}",
        highlight=False,
    )
    return 0


def print_recipe(console: Console) -> None:
    """The recipe's sources (sweeps/recipes/lynx-paper-data.yaml reads them), then the paper's
    stage-2 rows no converter here reads, whose share their role's sources carry, and the
    one the recipe holds out."""
    table = Table(
        "source", "stage", "role", "paper's row", "paper %", "recipe ratio", "released as",
        "license", "read at", title="the Lynx study's data (arXiv 2307.02469, Table 9)",
    )  # fmt: skip
    for s in SOURCES.values():
        share = f"{s.paper_share:g}" if s.paper_share else "-"
        table.add_row(
            s.name, s.stage, s.role, s.paper_rows, share, f"{s.ratio:g}", s.released_as,
            s.license, s.path,
        )  # fmt: skip
    console.print(table)
    shares = ", ".join(f"{role} {share:.3g}%" for role, share in role_shares().items())
    console.print(f"stage 2 by role (the paper's shares, kept): {shares}", highlight=False)
    missing = ", ".join(f"{row} {share:g}%" for row, (share, _) in PAPER_ONLY.items())
    held_out = ", ".join(f"{row} {share:g}%" for row, (share, _) in HELD_OUT.items())
    console.print(
        f"the paper's stage-2 rows without a converter here (their role's sources carry their "
        f"share): {missing}. Held out, as the generated world's place task is: {held_out}. "
        "What to download for each missing source, and where from: "
        "`make plan NAME=paper SCALE=paper`",
        highlight=False,
    )
