"""Ids that are safe to put in a URL path, and the reference to one run that the rest of extract passes around."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from etl.errors import InputError

MAX_ID_LENGTH = 128
_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}")
_SHOWN = 40  # characters of a bad value quoted back: enough to recognise it, not a wall of text


def validate_id(kind: str, value: object) -> str:
    """Return ``value`` when it is a safe id (1..128 of ``[A-Za-z0-9_-]``); else an ``InputError`` naming it."""
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    if isinstance(value, str):
        shown = repr(value[:_SHOWN]) + ("..." if len(value) > _SHOWN else "")
    else:
        shown = f"of type {type(value).__name__}"
    raise InputError(
        f"{kind} id {shown} is not valid: an id is 1 to {MAX_ID_LENGTH} characters from A-Z, a-z, 0-9, '_' and '-'"
    )


@dataclass(frozen=True)
class RunRef:
    """One run to export: its thread and id, and the run object when discovery already fetched it."""

    thread_id: str
    run_id: str
    run: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        validate_id("thread", self.thread_id)
        validate_id("run", self.run_id)

    @classmethod
    def parse(cls, text: str) -> RunRef:
        """Parse ``THREAD_ID/RUN_ID`` as given to ``--run``."""
        thread_id, sep, run_id = text.strip().partition("/")
        if not sep:
            raise InputError(f"run {text[:_SHOWN]!r} is not of the form THREAD_ID/RUN_ID")
        return cls(validate_id("thread", thread_id), validate_id("run", run_id))

    @property
    def run_path(self) -> str:
        """``/threads/{thread_id}/runs/{run_id}``: the run object."""
        return f"/threads/{self.thread_id}/runs/{self.run_id}"

    @property
    def steps_path(self) -> str:
        """``/threads/{thread_id}/runs/{run_id}/steps``: the run's step list."""
        return f"{self.run_path}/steps"

    def __str__(self) -> str:
        return f"{self.thread_id}/{self.run_id}"


def runs_path(thread_id: str) -> str:
    """``/threads/{thread_id}/runs``: a thread's run list (the id is validated here)."""
    return f"/threads/{validate_id('thread', thread_id)}/runs"
