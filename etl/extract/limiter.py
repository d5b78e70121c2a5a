"""A pause shared by every request of one client: when the server says "slow down", nobody sends."""

from __future__ import annotations

import asyncio
import time


class SharedPause:
    """Holds new requests until the latest moment any response asked to resume at (monotonic clock)."""

    def __init__(self) -> None:
        self._resume_at = 0.0
        self.pauses = 0  # how many times a response extended the pause, for the client's stats

    def pause_for(self, seconds: float) -> None:
        """Hold every request for ``seconds`` from now (a longer pause already set is kept)."""
        resume_at = time.monotonic() + seconds
        if seconds > 0 and resume_at > self._resume_at:
            self._resume_at = resume_at
            self.pauses += 1

    @property
    def remaining(self) -> float:
        """Seconds until requests may go again (0 when not paused)."""
        return max(0.0, self._resume_at - time.monotonic())

    async def wait(self) -> None:
        """Return once no pause is in force; a pause extended while waiting is waited for too."""
        while (left := self.remaining) > 0:
            await asyncio.sleep(left)
