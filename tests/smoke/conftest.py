"""tests/smoke runs only in .venv-ha-latest (``scripts/test`` does so).

That environment has the newest Home Assistant release and no test harness; the other
environments have their own Home Assistant (or none) and are not what is tested here, so a plain
``pytest`` there leaves this folder out.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SMOKE_VENV = Path(__file__).resolve().parents[2] / ".venv-ha-latest"

IN_SMOKE_VENV = Path(sys.prefix).resolve() == SMOKE_VENV.resolve()

if not IN_SMOKE_VENV:
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header() -> str | None:
    if IN_SMOKE_VENV:
        return None
    return "tests/smoke left out: run it with .venv-ha-latest/bin/python -m pytest tests/smoke"


def pytest_configure(config: pytest.Config) -> None:
    # Importing scripts/demo_homeassistant.py imports Home Assistant's HTTP server, whose class
    # aiohttp discourages; Home Assistant's business, not this test's.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:Inheritance class HomeAssistantApplication:DeprecationWarning",
    )
