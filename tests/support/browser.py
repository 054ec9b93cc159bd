"""Debian's Chromium as the browser tests and benchmarks launch it through Playwright.

Nothing downloads a browser: Playwright drives the system's ``chromium`` (``scripts/setup``
installs it). The flags keep it from reaching for the network this machine does not have;
Playwright adds ``--headless`` itself.
"""

from __future__ import annotations

import shutil
from typing import Final

CHROMIUM: Final = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
