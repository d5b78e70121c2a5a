"""Which bucket and shard a run belongs to: one stable hash, shared by the shard filter and the Parquet layout.

A run id hashes to one of ``BUCKETS`` buckets; shard ``I`` of ``N`` owns the buckets ``b`` with ``b % N == I``.
So the runs of one shard always land in files that no other shard writes, for any ``N <= BUCKETS``.

Eight buckets, not more: a Parquet batch rewrites one file per (table, day, bucket) it touches, so the bucket
count multiplies the files (and the time) of every batch; eight parallel writers are plenty.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from etl.errors import InputError

BUCKETS = 8


def bucket_of(run_id: str) -> int:
    """The bucket of a run id (stable across machines and Python versions)."""
    return zlib.crc32(run_id.encode()) % BUCKETS


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``; ``Shard(0, 1)`` is everything."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= BUCKETS or not 0 <= self.index < self.count:
            raise InputError(
                f"shard {self.index}/{self.count} is out of range: use I/N with 0 <= I < N <= {BUCKETS} "
                f"(run ids hash to {BUCKETS} buckets, and a shard owns whole buckets)"
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Parse ``I/N`` as given to ``--shard``."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise InputError(f"--shard {text!r} is not of the form I/N (for example 0/4)")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def buckets(self) -> tuple[int, ...]:
        """The buckets this shard owns."""
        return tuple(b for b in range(BUCKETS) if b % self.count == self.index)

    def owns(self, run_id: str) -> bool:
        """True when the run belongs to this shard."""
        return bucket_of(run_id) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
