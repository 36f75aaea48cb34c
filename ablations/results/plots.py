"""The study's figures (matplotlib, PNG) from a `Study`: what each variant changes, with its
uncertainty, the way the paper's ablation discussion reads.

- `deltas.png`: each variant's difference from the baseline per headline metric, with its 95%
  interval (hollow where it contains 0), the paper's published difference as a cross;
- `classes.png`: accuracy per Open-VQA class and variant, with intervals;
- `curves_<stage>.png`: training loss per variant, the mean over seeds as a line and the
  seeds' range as a band, the baseline's mean dashed for reference, labelled axes, on a log
  scale where the first steps would flatten the rest;
- `tradeoff.png`: correctness against answer length when asked for detail, per variant (the
  paper's correctness-vs-generation balance), numbered with a key beside it.
Not here: reading MLflow (`ablations.results.study`) or tables.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a cluster node or in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ablations.results.study import Study  # noqa: E402
from ablations.results.tables import HEADLINES, IMAGE_CLASSES, VIDEO_CLASSES  # noqa: E402
from ablations.sweep.reference import BASELINE_ROW, paper_figures  # noqa: E402
from lynx_core.evaluate.metric_names import class_key  # noqa: E402

CURVES = ("bases", "instruct", "clip", "stage1", "stage2")
DPI = 110


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return path


def _errors(estimates) -> np.ndarray:
    """(2, n) distances from each value to its interval's ends (0 where there is none)."""
    return np.array(
        [
            [e.value - e.low if e.known else 0.0 for e in estimates],
            [e.high - e.value if e.known else 0.0 for e in estimates],
        ]
    )


def deltas_plot(study: Study, path: Path) -> Path | None:
    others = [g for g in study.groups if g != study.baseline]
    metrics = [h for h in HEADLINES if study.has(h.metric)]
    if study.baseline is None or not others or not metrics:
        return None
    figures = paper_figures()
    paper_base = figures.row(BASELINE_ROW)
    height = 0.32 * len(others) + 1.2
    figure, axes = plt.subplots(
        1, len(metrics), figsize=(3.6 * len(metrics), height), sharey=True, layout="constrained"
    )
    axes = np.atleast_1d(axes)
    y = np.arange(len(others))[::-1]
    for ax, h in zip(axes, metrics, strict=True):
        found = [study.delta(g, h.metric) for g in others]
        values = np.array([e.value for e in found])
        noise = np.array([e.within_noise for e in found])
        ax.errorbar(values, y, xerr=_errors(found), fmt="none", ecolor="0.4", capsize=2)
        ax.scatter(values[~noise], y[~noise], color="C0", zorder=3, label="ours")
        ax.scatter(
            values[noise],
            y[noise],
            facecolor="white",
            edgecolor="C0",
            zorder=3,
            label="ours, within noise",
        )
        if h.paper and paper_base is not None and getattr(paper_base, h.paper) is not None:
            paper = [figures.row(study.variant(g).paper_row) for g in others]
            shown = [
                (v, getattr(r, h.paper))
                for v, r in zip(y, paper, strict=True)
                if r is not None and getattr(r, h.paper) is not None
            ]
            if shown:
                ys, vs = zip(*shown, strict=True)
                reference = getattr(paper_base, h.paper)
                ax.scatter(
                    [v - reference for v in vs], ys, marker="x", color="C3", zorder=4, label="paper"
                )
        ax.axvline(0, color="0.2", linewidth=0.8)
        ax.set_title(f"Δ {h.label}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, others, fontsize=8)
    marks = {}  # one legend for all panels: the paper's marks show only where it reports
    for ax in axes:
        marks.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    axes[-1].legend(list(marks.values()), list(marks), fontsize=7, loc="lower right")
    figure.suptitle(f"{study.spec.experiment}: difference from {study.baseline} (95% intervals)")
    return _save(figure, path)


def classes_plot(study: Study, path: Path) -> Path | None:
    panels = [
        (split, c)
        for split, classes in (("openvqa", IMAGE_CLASSES), ("openvqa_video", VIDEO_CLASSES))
        for c in classes
        if study.has(f"{split}/{class_key(c)}/acc")
    ]
    if not panels:
        return None
    columns = 4
    rows = math.ceil(len(panels) / columns)
    groups = study.groups
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(3.2 * columns, (0.22 * len(groups) + 1) * rows),
        sharey=True,
        layout="constrained",
    )
    axes = np.atleast_1d(axes).ravel()
    y = np.arange(len(groups))[::-1]
    for ax, (split, c) in zip(axes, panels, strict=False):
        found = [study.estimate(g, f"{split}/{class_key(c)}/acc") for g in groups]
        colors = ["C1" if g == study.baseline else "C0" for g in groups]
        ax.barh(
            y,
            [e.value for e in found],
            xerr=_errors(found),
            color=colors,
            error_kw={"elinewidth": 0.8, "capsize": 1.5},
        )
        ax.set_title(("video " if split == "openvqa_video" else "") + c, fontsize=9)
        ax.set_xlim(0, 100)
        ax.grid(axis="x", alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.axis("off")
    for ax in axes[::columns]:
        ax.set_yticks(y, groups, fontsize=7)
    figure.suptitle(f"{study.spec.experiment}: accuracy per class, % (baseline in orange)")
    return _save(figure, path)


def curves_plot(study: Study, name: str, path: Path) -> Path | None:
    curves = {g: study.curve(g, name) for g in study.groups}
    curves = {g: c for g, c in curves.items() if c}
    if not curves:
        return None
    columns = min(4, len(curves))
    rows = math.ceil(len(curves) / columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 2.3 * rows), sharex=True, sharey=True, squeeze=False
    )
    axes = axes.ravel()
    reference = _mean_curve(curves.get(study.baseline, {}))
    for ax, (group, seeds) in zip(axes, curves.items(), strict=False):
        steps, mean, low, high = _mean_curve(seeds)
        if reference[0].size and group != study.baseline:
            ax.plot(reference[0], reference[1], "--", color="0.5", linewidth=0.8)
        ax.fill_between(steps, low, high, alpha=0.3, color="C0", linewidth=0)
        ax.plot(steps, mean, color="C0", linewidth=1)
        ax.set_title(f"{group} ({len(seeds)} seeds)", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(curves) :]:
        ax.axis("off")
    for ax in axes[: len(curves)]:  # axes are shared: label the outer ones
        if ax.get_subplotspec().is_last_row() or ax is axes[len(curves) - 1]:
            ax.set_xlabel("step", fontsize=8)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("training loss", fontsize=8)
    scale = _loss_scale(curves.values())
    axes[0].set_yscale(scale)  # shared by every panel
    baseline = f"; dashed: {study.baseline}" if study.baseline in curves else ""
    note = ", log scale" if scale == "log" else ""
    figure.suptitle(
        f"{study.spec.experiment}: {name} training loss (band: seeds' range{baseline}{note})"
    )
    figure.tight_layout()
    return _save(figure, path)


def _loss_scale(curves) -> str:
    """'log' where the first steps' loss would flatten the rest on a linear axis (it spans
    more than a factor of 3, all positive), else 'linear'."""
    values = [v for seeds in curves for points in seeds.values() for _, v in points]
    low, high = min(values, default=0.0), max(values, default=0.0)
    return "log" if low > 0 and high / low > 3 else "linear"


def _mean_curve(seeds: dict[int, list[tuple[int, float]]]):
    """(steps, mean, min, max) over seeds at the steps every seed logged."""
    if not seeds:
        return np.array([]), np.array([]), np.array([]), np.array([])
    common = sorted(set.intersection(*(set(s for s, _ in points) for points in seeds.values())))
    table = np.array([[dict(points)[s] for s in common] for points in seeds.values()])
    return np.array(common), table.mean(0), table.min(0), table.max(0)


def tradeoff_plot(study: Study, path: Path) -> Path | None:
    x_metric, y_metric = "compliance/detailed_words", "openvqa/overall"
    if not (study.has(x_metric) and study.has(y_metric)):
        return None
    groups = study.groups
    xs = [study.estimate(g, x_metric) for g in groups]
    ys = [study.estimate(g, y_metric) for g in groups]
    figure, ax = plt.subplots(figsize=(7, 5), layout="constrained")
    ax.errorbar(
        [e.value for e in xs],
        [e.value for e in ys],
        xerr=_errors(xs),
        yerr=_errors(ys),
        fmt="o",
        color="C0",
        ecolor="0.6",
        capsize=2,
        markersize=4,
    )
    # numbers at the points and the names in a key beside the axes: names written at
    # the points overlap wherever variants score alike; points that nearly coincide share
    # one label ("1, 4")
    key = [f"{number:>2}  {g}" for number, g in enumerate(groups, start=1)]
    for (x, y), numbers in _near([(x.value, y.value) for x, y in zip(xs, ys, strict=True)]):
        baseline = study.baseline in [groups[n - 1] for n in numbers]
        ax.annotate(
            ", ".join(map(str, numbers)),
            (x, y),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
            color="C1" if baseline else "0.2",
        )
    ax.text(
        1.02, 1.0, "\n".join(key), transform=ax.transAxes, va="top", fontsize=7, family="monospace"
    )
    ax.set_xlabel("words per answer when asked to 'answer in detail'")
    ax.set_ylabel("Open-VQA image Overall %")
    ax.grid(alpha=0.3)
    ax.set_title(f"{study.spec.experiment}: correctness vs answer length (95% intervals)")
    return _save(figure, path)


def _near(points: list[tuple[float, float]], share: float = 1 / 30):
    """((x, y), [numbers]) per group of points that nearly coincide: each point joins the
    first group whose first point is within `share` of the points' range on both axes;
    numbers are 1-based, places the group's first point."""
    finite = [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]
    if not finite:
        return []
    xs, ys = zip(*finite, strict=True)
    width = (max(xs) - min(xs)) * share or 1e-9
    height = (max(ys) - min(ys)) * share or 1e-9
    groups: list[tuple[tuple[float, float], list[int]]] = []
    for number, (x, y) in enumerate(points, start=1):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        near = (g for g in groups if abs(g[0][0] - x) <= width and abs(g[0][1] - y) <= height)
        found = next(near, None)
        if found is None:
            groups.append(((x, y), [number]))
        else:
            found[1].append(number)
    return groups


def write_plots(study: Study, out: Path) -> list[Path]:
    """Every figure the study's data supports, into `out`; returns the files written."""
    made = [
        deltas_plot(study, out / "deltas.png"),
        classes_plot(study, out / "classes.png"),
        *(curves_plot(study, name, out / f"curves_{name}.png") for name in CURVES),
        tradeoff_plot(study, out / "tradeoff.png"),
    ]
    return [p for p in made if p is not None]
