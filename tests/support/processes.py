"""Finding and ending the processes a script left behind, by the session it was started in.

Scripts that start their parts as jobs of their own (``set -m``) put each in a new process
group, so a group says nothing about what is left; the session still holds them all.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def session_members(session_id: int) -> list[int]:
    """Live (not zombie) processes in ``session_id``, its children whatever their group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == session_id and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def kill_session(session_id: int) -> None:
    """SIGKILL whatever is still in ``session_id`` (clean-up after a failed test)."""
    for pid in session_members(session_id):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


AS_FROM_A_TERMINAL = ("env", "--default-signal=INT,QUIT")
"""A command prefix: start a script as a terminal's shell would, with Ctrl-C's signals on.

A test run in the background (``scripts/test`` runs one bridge suite so) inherits SIGINT
and SIGQUIT ignored, and bash can neither trap nor reset a signal that was ignored when it
started: Ctrl-C would then never reach the script under test. ``env`` execs the script, so
the process keeps its pid.
"""
