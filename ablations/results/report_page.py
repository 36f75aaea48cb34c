"""`index.html`: a sweep's whole report on one self-contained page.

The report's files (`ablations.results.report`) are each one part of the answer: findings in
Markdown, the ablation table in another file, figures beside them. A reader wants them
together, in the order a reviewer reads them: the verdicts first, then the differences
behind them (the deltas figure), the ablation table, the paper's per-class tables, the
evidence, the training curves and the trade-off, every run last, each part under a line that
says how to read it. The page is built from those files alone (so from MLflow alone, like
them), with its figures embedded and no script or style fetched from anywhere: it opens from
disk, from an MLflow artifact, or sent by mail. Every table sorts by clicking its header.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

from lynx_core.atomic import write_text

PAGE = "index.html"


@dataclass(frozen=True)
class Part:
    """One section of the page: a report file (Markdown or PNG) and how to read it."""

    file: str  # relative to the report folder; `*` for every match, in name order
    title: str
    anchor: str  # the section's id, and its name in the page's menu

    @property
    def label(self) -> str:
        return self.anchor.replace("-", " ")


# the order a reviewer reads them; a part whose file the sweep did not produce is left out
PARTS = (
    Part("findings.md", "Findings: the paper's conclusions tested on this sweep", "findings"),
    Part("plots/deltas.png", "Each variant's difference from the baseline", "deltas"),
    Part("ablation.md", "Ablation table", "ablation"),
    Part("openvqa_image.md", "Open-VQA image, per class (the paper's Table 1)", "openvqa-image"),
    Part("openvqa_video.md", "Open-VQA video, per class (the paper's Table 2)", "openvqa-video"),
    Part("plots/classes.png", "Accuracy per class", "classes"),
    Part("mme.md", "MME", "mme"),
    Part("evidence.md", "The evidence behind each comparison", "evidence"),
    Part("plots/tradeoff.png", "Correctness against answer length", "tradeoff"),
    Part("plots/curves_*.png", "Training curves", "curves"),
    Part("tuning.md", "Tuning", "tuning"),
    Part("summary.md", "Every run", "runs"),
)

FIRST = ("curves_stage2", "curves_stage1")  # the variants' own training before the bases'

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1400px;
       padding: 0 24px 48px; color: #1d1d1f; }
nav { position: sticky; top: 0; background: #fff; padding: 8px 0; border-bottom: 1px solid #ddd;
      font-size: 13px; z-index: 1; }
nav a { margin-right: 14px; color: #0b57d0; text-decoration: none; }
section { margin-top: 28px; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #eee; }
h3 { font-size: 15px; }
.how { color: #555; font-style: italic; margin: 4px 0 10px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12.5px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f4f4f6; cursor: pointer; white-space: nowrap; }
th.sorted-up::after { content: " \\25B2"; } th.sorted-down::after { content: " \\25BC"; }
tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; border: 1px solid #eee; }
.agrees { color: #0a7d2c; } .disagrees { color: #b3261e; }
.inconclusive, .too-few-seeds, .not-tested { color: #8a6100; }
"""

# a click on a header sorts its table's rows by that column: by the number a cell starts
# with ("28.5 ± 3.9", "+1.2", "−0.4"), else by its text ("v10", "stage2_lr"); a second
# click reverses
SORT_SCRIPT = """
function cellKey(cell) {
  const text = cell.textContent.trim().replace(/\\u2212/g, "-");
  const number = /^[+\\-]?\\.?[0-9]/.test(text) ? parseFloat(text) : NaN;
  return Number.isNaN(number) ? [1, text.toLowerCase()] : [0, number];
}
function compare(a, b) {
  if (a[0] !== b[0]) return a[0] - b[0];
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}
document.querySelectorAll("table").forEach((table) => {
  table.querySelectorAll("thead th").forEach((header, column) => {
    header.addEventListener("click", () => {
      const body = table.tBodies[0];
      if (!body) return;  // a table without rows has nothing to sort
      const up = !header.classList.contains("sorted-up");
      const headers = table.querySelectorAll("thead th");
      headers.forEach((h) => h.classList.remove("sorted-up", "sorted-down"));
      header.classList.add(up ? "sorted-up" : "sorted-down");
      const rows = Array.from(body.rows);
      const sign = up ? 1 : -1;
      rows.sort((r, s) => sign * compare(cellKey(r.cells[column]), cellKey(s.cells[column])));
      rows.forEach((row) => body.appendChild(row));
    });
  });
});
"""

# no raw HTML and no images from the text (a sweep's description is text): nothing the page
# shows is fetched from anywhere
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")
VERDICTS = ("agrees", "disagrees", "inconclusive", "too few seeds", "not tested")
_VERDICT = re.compile(r"<strong>(" + "|".join(VERDICTS) + r")([^<]*)</strong>")
_VERDICT_CELL = re.compile(r"<td>(" + "|".join(VERDICTS) + r")</td>")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _markdown(text: str) -> str:
    """A report file as HTML: its own title dropped (the section has one), headings one
    level down, tables scrollable, verdicts coloured."""
    body = re.sub(r"\A# .*\n", "", text)
    rendered = _MARKDOWN.render(body)
    for level in (3, 2):
        rendered = rendered.replace(f"<h{level}>", f"<h{level + 1}>")
        rendered = rendered.replace(f"</h{level}>", f"</h{level + 1}>")
    rendered = rendered.replace("<table>", '<div class="scroll"><table>')
    rendered = rendered.replace("</table>", "</table></div>")
    rendered = _VERDICT.sub(
        lambda m: f'<strong class="{_slug(m[1])}">{m[1]}{m[2]}</strong>', rendered
    )
    return _VERDICT_CELL.sub(lambda m: f'<td class="{_slug(m[1])}">{m[1]}</td>', rendered)


def _figure(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _section(part: Part, files: list[Path], out: Path, guide: dict[str, str]) -> str:
    chunks = [f'<section id="{part.anchor}"><h2>{html.escape(part.title)}</h2>']
    for path in files:
        name = path.relative_to(out).as_posix()
        how = guide.get(name) or guide.get(part.file, "")
        if len(files) > 1:
            chunks.append(f"<h3>{html.escape(path.stem.removeprefix('curves_'))}</h3>")
        if how:
            chunks.append(
                f'<p class="how">{html.escape(how)} (<code>{html.escape(name)}</code>)</p>'
            )
        if path.suffix == ".png":
            chunks.append(_figure(path, f"{part.title}: {name}"))
        else:
            rendered = _markdown(path.read_text())
            if name == "findings.md":  # its first table: each conclusion's verdict
                rendered = rendered.replace("<table>", '<table id="verdicts">', 1)
            chunks.append(rendered)
    chunks.append("</section>")
    return "\n".join(chunks)


def _reading_order(path: Path) -> tuple[int, str]:
    return (FIRST.index(path.stem) if path.stem in FIRST else len(FIRST), path.name)


def write_page(out: Path, title: str, intro: str, guide: dict[str, str], built: list[Path]) -> Path:
    """`out/index.html` from the report files this build wrote (`built`: a file an earlier
    build left in `out` is not shown); `guide` says how to read each (by its path under
    `out`)."""
    sections, links = [], []
    current = set(built)
    for part in PARTS:
        files = sorted((p for p in out.glob(part.file) if p in current), key=_reading_order)
        if not files:
            continue
        sections.append(_section(part, files, out, guide))
        links.append(f'<a href="#{part.anchor}">{part.label}</a>')
    page = "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            _MARKDOWN.render(intro),
            f"<nav>{''.join(links)}</nav>",
            *sections,
            f"<script>{SORT_SCRIPT}</script>",
            "</body></html>",
        ]
    )
    path = out / PAGE
    write_text(path, page)
    return path
