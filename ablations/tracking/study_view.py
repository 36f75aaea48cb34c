"""The MLflow UI's view of a study: variants grouped over their seeds, the study's metrics first.

MLflow's experiment page keeps its layout (run grouping, chart sections and cards, table
columns, which runs show) in a view state that a link can carry only by reference: the
page's "Share" button stores it as the experiment tag `mlflow.sharedViewState.<key>` and links
`?viewStateShareKey=<key>`. This module writes that state itself, so the link a sweep prints
opens on:
- the variant runs grouped by variant (the `lynx_group` tag), each group's charts drawn from
  the mean over its seeds (MLflow's aggregate), every group shown, not the first ten;
- a first chart section, "study", with a bar chart per headline metric (Open-VQA image and
  video Overall, MME perception, compliance, answer length, CHAIR, final and held-out losses);
- the other metrics in their sections after it, the frozen bases' curves (`bases/`,
  `instruct/`, `clip/`) and parameter counts collapsed at the end;
- a runs table whose columns are those metrics rather than Created / Dataset / Source.
Its JSON follows MLflow 3's experiment-page state (checked against the UI in headless
Chromium by `tests/ablations/tracking/test_ui.py`); a key names one version of it, so a
changed layout gets a new tag and old links keep theirs.
"""

from __future__ import annotations

import hashlib
import json
import uuid

GROUP_TAG = "lynx_group"  # the variant without its seed (`ablations.tracking.track.GROUP`)
SHARED_STATE = "mlflow.sharedViewState."  # + key: an experiment tag the UI reads
STUDY_METRICS = (
    "openvqa/overall",
    "openvqa_video/overall",
    "mme/perception",
    "compliance/overall",
    "compliance/detailed_words",
    "length/mean_words",
    "hallucination/chair_s",
    "stage2/val_loss_area",
    "stage2/final_loss",
    "stage1/final_loss",
)
OPEN_SECTIONS = ("stage2", "stage1", "openvqa", "openvqa_video", "mme", "compliance")
OPEN_SECTIONS += ("llm_compliance", "length", "hallucination", "pope")
CLOSED_SECTIONS = ("bases", "instruct", "clip", "params")  # the same for every variant
MAX_RUNS = 1000  # a bar chart's runs (groups, when grouped); MLflow's default is 10


def _id(name: str) -> str:
    """A stable uuid per chart or section: the same study, the same state and key."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"lynx-ablate/{name}"))


def _section(name: str, display: bool) -> dict:
    return {
        "uuid": _id(f"section/{name}"),
        "name": name,
        "display": display,  # expanded
        "isReordered": True,  # MLflow keeps the order given rather than sorting by name
        "deleted": False,
        "isGenerated": False,
    }


def _bar(metric: str, section: str) -> dict:
    return {
        "uuid": _id(f"chart/{metric}"),
        "type": "BAR",
        "runsCountToCompare": MAX_RUNS,
        "metricSectionId": _id(f"section/{section}"),
        "deleted": False,
        "isGenerated": False,
        "displayName": metric,
        "metricKey": metric,
    }


def study_view_state() -> dict:
    """The experiment page's state: grouped by variant, the study's charts first."""
    sections = [_section("study", True)]
    sections += [_section(name, True) for name in OPEN_SECTIONS]
    sections += [_section(name, False) for name in CLOSED_SECTIONS]
    return {
        "searchFilter": "tags.lynx_role = 'variant'",
        "orderByKey": f"metrics.`{STUDY_METRICS[0]}`",
        "orderByAsc": False,
        "selectedColumns": [f"metrics.`{m}`" for m in STUDY_METRICS],
        "columnOrder": [f"metrics.`{m}`" for m in STUDY_METRICS],
        "columnWidths": {},
        "runsHiddenMode": "SHOW_ALL",
        "compareRunCharts": [_bar(m, "study") for m in STUDY_METRICS],
        "compareRunSections": sections,
        "isAccordionReordered": True,
        "viewMaximized": False,
        "runListHidden": False,
        "groupBy": {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "tag", "groupByData": GROUP_TAG}],
        },
        "groupsExpanded": {},
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "globalLineChartConfig": {
            "xAxisKey": "step",
            "lineSmoothness": 0,
            "selectedXAxisMetricKey": "",
        },
        "chartsSearchFilter": "",
    }


def study_view() -> tuple[str, str]:
    """(key, value) of the experiment tag that holds the study's view state."""
    value = json.dumps(study_view_state(), sort_keys=True)
    key = "lynx-study-" + hashlib.sha256(value.encode()).hexdigest()[:12]
    return SHARED_STATE + key, value


def study_key() -> str:
    """The `viewStateShareKey` of the study's view."""
    return study_view()[0].removeprefix(SHARED_STATE)
