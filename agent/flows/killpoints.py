"""A test hook: the process kills itself (SIGKILL) at a named point, as a power cut or ``kill -9`` would.

The kill test of ``cmc-agent enroll`` needs to stop a run exactly at each step boundary and between
receiving an answer and saving it, which timers cannot hit reliably. ``CMC_AGENT_TEST_KILL_AT=NAME``
makes :func:`kill_point` ``NAME`` end the process on the spot: no ``finally``, no flush, no lock release,
which is the point. Unset (always, outside tests), it does nothing.
"""

from __future__ import annotations

import os
import signal

KILL_ENV = "CMC_AGENT_TEST_KILL_AT"


def kill_point(name: str) -> None:
    """SIGKILL this process when ``CMC_AGENT_TEST_KILL_AT`` is ``name``."""
    if os.environ.get(KILL_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
