"""Long-term statistics after a 2-hour outage at 4 readings/s: back-filled vs the recorder alone.

The measurement is the test ``test_a_two_hour_outage_at_4_readings_per_second``
(tests/integration/test_backfill_recorder.py): a real recorder on SQLite compiling on its own
5-minute schedule as a frozen clock moves through four hours, this integration fed 14 400
readings an hour per sensor on the stream, hours B and C offline, then the bridge's replay.
The baseline is measured in the same run: a twin bridge with only the MQTT integration's
entities gets the same states and availability, so its hours are what the recorder makes
without back-fill. This script runs that test with ``IOT_MONITOR_BACKFILL_REPORT`` set, prints
the figures and draws them (``--svg``, by default docs/images/backfill-outage.svg): the
history graph (recorded states) over the readings, and the hourly statistics of both.

    .venv/bin/python bench/backfill.py [--svg PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TEST = (
    "tests/integration/test_backfill_recorder.py::test_a_two_hour_outage_at_4_readings_per_second"
)
WIDTH, HEIGHT = 960, 560
LEFT, RIGHT = 70, 40
PANELS = ((30, 210), (270, 460))
"""Top and bottom of the history panel and of the statistics panel, in pixels."""


def measure() -> dict[str, Any]:
    """Run the test once and return what it measured."""
    with tempfile.TemporaryDirectory() as directory:
        report = Path(directory) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider"],
            cwd=REPO,
            env=os.environ | {"IOT_MONITOR_BACKFILL_REPORT": str(report)},
            check=True,
        )
        result: dict[str, Any] = json.loads(report.read_text())
        return result


def _t(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class Chart:
    """Maps time and temperature to pixels and collects SVG elements."""

    def __init__(self, start: float, end: float, low: float, high: float) -> None:
        self.start, self.end, self.low, self.high = start, end, low, high
        self.parts: list[str] = []

    def x(self, ts: float) -> float:
        return LEFT + (ts - self.start) / (self.end - self.start) * (WIDTH - LEFT - RIGHT)

    def y(self, value: float, panel: tuple[int, int]) -> float:
        top, bottom = panel
        return bottom - (value - self.low) / (self.high - self.low) * (bottom - top)

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(self, x: float, y: float, text: str, **attrs: str) -> None:
        extra = " ".join(f'{key.replace("_", "-")}="{value}"' for key, value in attrs.items())
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{text}</text>')

    def axes(self, panel: tuple[int, int], title: str) -> None:
        top, bottom = panel
        self.add(
            f'<rect x="{LEFT}" y="{top}" width="{WIDTH - LEFT - RIGHT}" '
            f'height="{bottom - top}" fill="none" stroke="#999"/>'
        )
        self.text(LEFT, top - 10, title, font_weight="bold")
        for value in range(int(self.low) + 1, int(self.high) + 1, 4):
            y = self.y(value, panel)
            self.add(f'<line x1="{LEFT - 4}" x2="{LEFT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#999"/>')
            self.text(LEFT - 8, y + 4, f"{value} °C", text_anchor="end", font_size="11")
        hour = self.start
        while hour <= self.end:
            x = self.x(hour)
            self.add(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" stroke="#eee"/>')
            label = datetime.fromtimestamp(hour, UTC).strftime("%H:%M UTC")
            self.text(x, bottom + 16, label, text_anchor="middle", font_size="11")
            hour += 3600

    def polyline(
        self, points: list[tuple[float, float]], panel: tuple[int, int], **style: str
    ) -> None:
        path = " ".join(f"{self.x(ts):.1f},{self.y(value, panel):.1f}" for ts, value in points)
        extra = " ".join(f'{key.replace("_", "-")}="{value}"' for key, value in style.items())
        self.add(f'<polyline points="{path}" fill="none" {extra}/>')


def draw(report: dict[str, Any]) -> str:
    """The measured run as an SVG: states over readings, then hourly statistics."""
    hours = report["hours"]
    start = _t(hours[0]["start"])
    end = start + 3600 * len(hours)
    values = [value for _ts, value in report["minutes"]]
    for hour in hours:
        values += [value for key in ("truth", "ours", "baseline") for value in hour[key] or ()]
    chart = Chart(start, end, min(values) - 1, max(values) + 1)
    outage = [_t(moment) for moment in report["outage"]]
    history, statistics = PANELS

    chart.axes(history, "History graph: the raw sensor's recorded states")
    x0, x1 = chart.x(outage[0]), chart.x(outage[1])
    chart.add(
        f'<rect x="{x0:.1f}" y="{history[0]}" width="{x1 - x0:.1f}" '
        f'height="{history[1] - history[0]}" fill="#f3f3f3"/>'
    )
    chart.text(
        (x0 + x1) / 2,
        history[0] + 20,
        "bridge offline: state unavailable, a gap",
        text_anchor="middle",
        font_size="12",
        fill="#666",
    )
    minutes = [(_t(ts) + 30, value) for ts, value in report["minutes"]]
    chart.polyline(minutes, history, stroke="#bbb", stroke_width="1.5")
    runs: list[list[tuple[float, float]]] = [[]]
    states = report["states"]
    changes = [_t(ts) for ts, _state in states[1:]] + [end]
    for (ts, state), until in zip(states, changes, strict=True):
        try:
            value = float(state)
        except ValueError:
            runs.append([])
            continue
        runs[-1] += [(_t(ts), value), (until, value)]
    for run in runs:
        if run:
            chart.polyline(run, history, stroke="#1f77b4", stroke_width="1.5")

    chart.axes(statistics, "Statistics graph: hourly long-term statistics (mean, and min to max)")
    chart.add(
        f'<rect x="{x0:.1f}" y="{statistics[0]}" width="{x1 - x0:.1f}" '
        f'height="{statistics[1] - statistics[0]}" fill="#f3f3f3"/>'
    )
    for hour, baseline_error in zip(hours, report["baseline_errors"], strict=True):
        left = chart.x(_t(hour["start"]))
        width = chart.x(_t(hour["start"]) + 3600) - left
        for offset, key, colour in ((0.2, "baseline", "#ff7f0e"), (0.55, "ours", "#2ca02c")):
            x = left + width * offset
            if hour[key] is None:
                chart.text(
                    x + width * 0.12,
                    statistics[1] - 12,
                    "missing",
                    text_anchor="middle",
                    font_size="12",
                    fill=colour,
                )
                continue
            mean, low, high = hour[key]
            chart.add(
                f'<rect x="{x:.1f}" y="{chart.y(high, statistics):.1f}" width="{width * 0.25:.1f}" '
                f'height="{max(chart.y(low, statistics) - chart.y(high, statistics), 1):.1f}" '
                f'fill="{colour}" fill-opacity="0.35" stroke="{colour}"/>'
            )
            y = chart.y(mean, statistics)
            chart.add(
                f'<line x1="{x:.1f}" x2="{x + width * 0.25:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{colour}" stroke-width="3"/>'
            )
        truth = chart.y(hour["truth"][0], statistics)
        chart.add(
            f'<line x1="{left + 4:.1f}" x2="{left + width - 4:.1f}" y1="{truth:.1f}" '
            f'y2="{truth:.1f}" stroke="#000" stroke-dasharray="4 3"/>'
        )
        if baseline_error is not None:
            chart.text(
                left + width * 0.32,
                statistics[0] + 16,
                f"off by {baseline_error:.1%}",
                text_anchor="middle",
                font_size="11",
                fill="#ff7f0e",
            )
    for ts, mean in report["short_term"]:
        x, y = chart.x(ts + 150), chart.y(mean, statistics)  # the middle of its 5 minutes
        chart.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.6" fill="#1f77b4"/>')

    legend = [
        ("#bbb", "every reading (per-minute mean, from the stream)"),
        ("#1f77b4", "recorded states; dots: 5-minute statistics (never back-filled)"),
        ("#ff7f0e", "hourly statistics, recorder alone (the twin bridge)"),
        ("#2ca02c", "hourly statistics with back-fill"),
        ("#000", "dashed: mean of all the hour's readings"),
    ]
    for index, (colour, label) in enumerate(legend):
        x = LEFT + (index % 2) * 440
        y = HEIGHT - 44 + (index // 2) * 17
        chart.add(f'<rect x="{x}" y="{y - 9}" width="14" height="10" fill="{colour}"/>')
        chart.text(x + 20, y, label, font_size="12")
    body = "\n".join(chart.parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="13">\n'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>\n{body}\n</svg>\n'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", type=Path, default=REPO / "docs/images/backfill-outage.svg")
    args = parser.parse_args()
    report = measure()
    outage = report["outage"]
    print(f"{report['rate_hz']} readings/s per sensor; bridge offline {outage[0]} to {outage[1]}")
    print(f"{'hour (UTC)':<26}{'readings':>9}  {'back-filled: error':>19}  {'recorder alone':>16}")
    for hour, baseline in zip(report["hours"], report["baseline_errors"], strict=True):
        ours = max(
            abs(value - true) / abs(true)
            for value, true in zip(hour["ours"], hour["truth"], strict=True)
        )
        shown = "missing" if baseline is None else f"off by {baseline:.2%}"
        print(f"{hour['start']:<26}{hour['readings']:>9}  {ours:>19.1e}  {shown:>16}")
    print(
        f"hours in long-term statistics: back-filled {report['present']:.0%}, "
        f"recorder alone {report['present_baseline']:.0%} "
        f"(outage hours: {report['present_baseline_outage']:.0%})"
    )
    exact_baseline = sum(error is not None and error <= 1e-9 for error in report["baseline_errors"])
    count = len(report["hours"])
    print(
        "hours holding their readings' mean/min/max (rel. error <= 1e-9): "
        f"back-filled {count}/{count}, recorder alone {exact_baseline}/{count}"
    )
    print(f"largest relative error of an imported hour: {report['max_error']:.1e}")
    during = sum(_t(outage[0]) <= ts < _t(outage[1]) for ts, _mean in report["short_term"])
    print(f"5-minute statistics during the outage: {during} of {2 * 12}")
    args.svg.parent.mkdir(parents=True, exist_ok=True)
    args.svg.write_text(draw(report))
    print(f"chart: {args.svg.relative_to(REPO) if args.svg.is_relative_to(REPO) else args.svg}")


if __name__ == "__main__":
    main()
