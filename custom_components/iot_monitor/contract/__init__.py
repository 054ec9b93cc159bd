"""The MQTT contract between the bridge and the integration, written once.

Everything both halves must agree on lives here: ids, topics, the reading on the wire (one
``Reading`` for the stream and the spool, a small payload for state topics), the retained
bridge description and its version, and the fault log both use for bad input.

This package is pure and depends only on the standard library and msgspec, so it runs on the
Pi's Python (3.11) and on Home Assistant's. Its one source is this folder: HACS installs it
with the integration, and the bridge's wheel carries the same files as
``iot_monitor_bridge.contract`` (docs/architecture.md; ``tests/integration/test_packaging.py``
compares them byte for byte). Only relative imports inside, so both import paths work.
"""

from __future__ import annotations

from typing import Final

CONTRACT_VERSION: Final = 2
"""Bumped when a change would be misread by the other side; both must speak the same one."""
