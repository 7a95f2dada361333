"""``fseval report``: one self-contained HTML file for reading runs (no server, no network).

The summary (runs, scores with intervals, charts, breakdowns, paired differences) is HTML rendered
here; the sample browser is drawn in the page from a JSON block (``payload.py``), a page of
samples at a time, so a 10,000-sample report opens as fast as a small one. CSS, JavaScript and
thumbnails are inline: the file can be mailed, attached to an issue or opened offline.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from importlib import resources
from pathlib import Path

from fseval import __version__
from fseval.errors import FsevalError
from fseval.outputs import output_file, write_atomic
from fseval.progress import phase
from fseval.reports.compare import Run
from fseval.reports.html.page import (
    breakdown_section,
    comparison_section,
    icl_section,
    incomplete_banner,
    runs_section,
    scores_section,
)
from fseval.reports.html.payload import PayloadStats, build_payload

THUMBNAIL_SIZE = 80
IMAGE_BUDGET_MB = 40.0
OPTION = "--output"  # how messages name the file (fseval report -o)


@dataclass(frozen=True)
class Built:
    path: Path
    bytes: int
    seconds: float
    stats: PayloadStats

    def summary(self) -> str:
        """``Wrote PATH (SIZE: N samples, M thumbnails; what was left out, counted) in S s``: one short line."""
        left_out = self.stats.left_out()
        return (
            f"Wrote {self.path} ({self.bytes / 1e6:.1f} MB: {self.stats.samples:,} samples, "
            f"{self.stats.thumbnails:,} thumbnails{'; ' + left_out if left_out else ''}) in {self.seconds:.1f} s"
        )


def _asset(name: str) -> str:
    return (resources.files("fseval.reports.html") / "assets" / name).read_text(encoding="utf-8")


def _script_json(value: object) -> str:
    """JSON that cannot end the <script> element holding it: every "<" (only ever inside a string) escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c")


def _finite(value: object) -> object:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def render(runs: list[Run], thumbnail_size: int, image_budget_mb: float) -> tuple[str, PayloadStats]:
    if not runs:
        raise FsevalError("fseval report needs at least one run directory.")
    tasks = list(dict.fromkeys(task for run in runs for task in run.record.results))
    payload, stats = build_payload(runs, thumbnail_size, int(image_budget_mb * 1_000_000))
    title = "fseval report: " + ", ".join(run.name for run in runs)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    summary = (
        incomplete_banner(runs) + runs_section(runs) + scores_section(runs, tasks) + breakdown_section(runs, tasks)
    )
    summary += comparison_section(runs) + icl_section(runs)
    parts = {
        "title": escape(title),
        "css": _asset("report.css"),
        "header": f"{escape(title)}<small>made {created} by fseval {__version__}</small>",
        "summary": summary,
        "data": _script_json(_finite(payload)),
        "js": _asset("report.js"),
    }
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], _asset("report.html")), stats


def build_report(
    runs: list[Run],
    output: Path,
    thumbnail_size: int = THUMBNAIL_SIZE,
    image_budget_mb: float = IMAGE_BUDGET_MB,
) -> Built:
    """Write the report of ``runs`` (the first is A in the paired differences) to ``output``.

    ``output`` is checked before any work; the file appears whole or not at all (``fseval.outputs``).
    """
    start = time.perf_counter()
    output_file(output, OPTION)
    html, stats = render(runs, thumbnail_size, image_budget_mb)
    data = html.encode("utf-8")
    with phase(f"Writing {output.name} ({len(data) / 1e6:.1f} MB)"):
        write_atomic(output, data, OPTION)
    return Built(output, len(data), time.perf_counter() - start, stats)
