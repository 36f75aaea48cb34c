"""The datasets a plan trains on, for `make plan`: each variant's stage-1 caption sources and
stage-2 training files, which are on this machine, and, for a missing one the data recipe
knows (`lynx_core.data.convert.recipe.SOURCES`), what to download, where from and where to
put it. Nothing is read but whether the files exist: a plan needs no data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ablations.sweep.variant import Variant
from lynx_core.data.convert.recipe import SOURCES


@dataclass
class DataSource:
    """One source as the plan's variants name it (one row of the table); `missing` counts
    its files not on this machine (a shard pattern names thousands: counted once; a training
    file counts its media folder too)."""

    name: str
    stage: str
    kind: str  # stage 1: clean or noisy captions; stage 2: the file's role
    path: str
    files: int
    missing: int
    variants: list[str] = field(default_factory=list)  # the variants (without seeds) using it

    @property
    def status(self) -> str:
        if not self.missing:
            return "here"
        of = f" ({self.missing} of {self.files} files)" if self.files > 1 else ""
        return f"missing{of}"


def data_sources(variants: list[Variant]) -> list[DataSource]:
    """Every caption file and training file the variants name, once per (stage, name, path),
    with the variants that use it; the generated world is not listed (it is made, not read)."""
    found: dict[tuple[str, str, str], DataSource] = {}
    for variant in variants:
        data = variant.config.data
        named = [  # a pattern's files are listed only for a source not yet seen
            ("stage1", f.source_name, f.quality or "captions", f.path, lambda f=f: f.paths)
            for f in data.captions.files
        ]
        named += [
            (
                "stage2",
                f.task_name,
                f.role or "no role",
                str(f.path),
                lambda f=f: [f.path, *([f.media_root] if f.media_root else [])],
            )
            for f in data.train_files
            if data.mixture.get(f.task_name, 0) > 0
        ]
        group = _group(variant)
        for stage, name, kind, path, files in named:
            source = found.get((stage, name, path))
            if source is None:
                paths = files()
                absent = sum(not p.expanduser().exists() for p in paths)
                source = DataSource(name, stage, kind, path, len(paths), absent)
                found[(stage, name, path)] = source
            if group not in source.variants:
                source.variants.append(group)
    return list(found.values())


def sources_table(sources: list[DataSource], groups: list[str]) -> Table:
    """The sources, stage by stage: what each is, which variants read it (of `groups`, every
    variant without its seed) and whether it is here."""
    table = Table(title="data: the sources each variant trains on (a plan needs none of them)")
    for column in ("stage", "source", "kind", "variants", "path", "status"):
        table.add_column(column, overflow="fold")
    for source in sorted(sources, key=lambda s: (s.stage, s.name)):
        users = [g for g in groups if g in source.variants]
        others = [g for g in groups if g not in users]
        read_by = ", ".join(users) if len(users) <= len(others) else "all"
        if others and read_by == "all":
            read_by = f"all but {', '.join(others)}"
        status = source.status
        styled = "[green]here[/green]" if status == "here" else f"[yellow]{status}[/yellow]"
        table.add_row(source.stage, source.name, source.kind, read_by, source.path, styled)
    return table


def how_to_get(source: DataSource) -> str:
    known = SOURCES.get(source.name)
    if known is None:
        return f"{source.name}: your own; put it at {source.path}"
    return f"{source.name} ({known.released_as}): {known.obtain}; it is read at {source.path}"


def print_sources(variants: list[Variant], console: Console) -> None:
    """The plan's sources, then what to do about each missing one, then any other missing
    local path (weights, released benchmarks, a caption file's image folder)."""
    sources = data_sources(variants)
    if sources:
        groups = list(dict.fromkeys(_group(v) for v in variants))
        console.print(sources_table(sources, groups))
        for source in sources:
            if source.missing:
                console.print(f"[yellow]to get[/yellow] {how_to_get(source)}", highlight=False)
    missing = sorted({m for variant in variants for m in _other_missing(variant)})
    if missing:
        console.print(
            "[yellow]before running[/yellow], provide local weights and data: " + ", ".join(missing)
        )


def _other_missing(variant: Variant) -> list[str]:
    """'field=path' for each local path a variant names that the sources table does not
    list: weights, released benchmarks, a caption file's image folder."""
    from lynx_core.checks import local_paths
    from lynx_core.config import VariantConfig

    cfg = variant.config
    named = local_paths(VariantConfig, cfg.model_dump())
    missing = [
        f"{f}={p}"
        for f, p in named
        if not f.startswith("data.train_files.") and not p.expanduser().exists()
    ]
    for number, source in enumerate(cfg.data.captions.files):
        root = source.media_root
        if root is not None and not Path(root).expanduser().exists():
            missing.append(f"data.captions.files.{number}.media_root={root}")
    return missing


def _group(variant: Variant) -> str:
    """The variant without its seed, a tuning candidate under the variant it tunes."""
    return variant.group.split(".tune")[0]
