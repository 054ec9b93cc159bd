"""Bad input and recoverable faults, counted by kind and logged once per burst."""

from __future__ import annotations

import logging
import time
from collections import Counter


class FaultLog:
    """Counts faults by kind and logs them once per burst, not once per fault.

    The first fault of a kind is logged at WARNING; further ones within ``quiet_s`` are only
    counted, and the next log line says how many were suppressed. A flapping sensor or a noisy
    publisher thus cannot flood the journal of a Pi or Home Assistant's log.
    """

    def __init__(self, logger: logging.Logger, source: str, quiet_s: float = 60.0) -> None:
        """Log as ``source`` through ``logger``."""
        self.counts: Counter[str] = Counter()
        self._logger = logger
        self._source = source
        self._quiet_s = quiet_s
        self._last_logged: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    def fault(self, kind: str, detail: str) -> None:
        """Count one fault of ``kind``; log it unless one was logged within ``quiet_s``."""
        self.counts[kind] += 1
        now = time.monotonic()
        last = self._last_logged.get(kind)
        if last is not None and now - last < self._quiet_s:
            self._suppressed[kind] += 1
            return
        more = self._suppressed.pop(kind, 0)
        suffix = f" ({more} more since the last report)" if more else ""
        self._logger.warning("%s: %s: %s%s", self._source, kind, detail, suffix)
        self._last_logged[kind] = now
