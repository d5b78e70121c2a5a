"""What a fake API serves and how it misbehaves: one frozen dataclass of every option."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

# Run sizes that sit on the paging boundaries of a 100-item page (and the 20-item default page).
BOUNDARY_SIZES: tuple[int, ...] = (0, 1, 99, 100, 101, 250)


class FaultKind(enum.StrEnum):
    """One way a request can go wrong at the fake."""

    RATE_LIMIT_MS = "429-ms"  # 429 with retry-after-ms
    RATE_LIMIT_S = "429-s"  # 429 with retry-after (seconds)
    SERVER_500 = "500"
    BAD_GATEWAY_502 = "502"
    UNAVAILABLE_503 = "503"
    DROP = "drop"  # connection closed before any response byte
    CUT_BODY = "cut"  # Content-Length promises more than is sent, then close
    SLOW = "slow"  # answers after slow_seconds: slower than any sane client timeout


ALL_FAULTS: tuple[FaultKind, ...] = tuple(FaultKind)
FLAVORS = ("openai", "responses", "foundry")

# Options that shape the data; the rest (latency, faults...) may change while a server runs.
DATA_FIELDS = frozenset(
    {"seed", "threads", "runs_per_thread", "steps_per_run", "boundary_sizes", "start", "days",
     "future_variants", "long_output_bytes", "flavor", "conversations", "chains",
     "conversations_api"}
)


@dataclass(frozen=True)
class StepsSpec:
    """How many steps a run gets: a fixed count, a uniform range, or a choice from a list."""

    low: int
    high: int
    choices: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> StepsSpec:
        """Parse ``N``, ``A-B`` (uniform, inclusive) or ``A,B,C`` (one of the values)."""
        text = text.strip()
        try:
            if "," in text:
                choices = tuple(int(part) for part in text.split(","))
                if min(choices) < 0:
                    raise ValueError
                return cls(min(choices), max(choices), choices)
            if "-" in text:
                low_text, high_text = text.split("-", 1)
                low, high = int(low_text), int(high_text)
            else:
                low = high = int(text)
        except ValueError:
            raise ValueError(f"steps per run must be N, A-B or A,B,C with integers >= 0, not {text!r}") from None
        if low < 0 or high < low:
            raise ValueError(f"steps per run range must have 0 <= A <= B, not {text!r}")
        return cls(low, high)


@dataclass(frozen=True)
class FakeConfig:
    """Every option of a fake API: the dataset it serves, the key it expects, its latency and faults."""

    seed: int = 1
    threads: int = 10
    runs_per_thread: int = 20
    steps_per_run: str = "1-30"
    # Extra runs of exactly these sizes in the first thread (empty: none).
    boundary_sizes: tuple[int, ...] = BOUNDARY_SIZES
    start: date = date(2026, 1, 1)
    days: int = 30
    future_variants: bool = False
    # Size of the one long function output of the dataset (0: no long output).
    long_output_bytes: int = 1_048_576
    # openai (or responses): OpenAI's paths, the Assistants API beside the Responses and Conversations APIs;
    # foundry: a Foundry project endpoint (/api/projects/<project>): classic agents (api-version required, GET
    # /threads and /assistants, Foundry's data, etl.fakeapi.foundry) and under its /openai/v1 the new agents'
    # Responses and Conversations with GET /responses and /conversations; Entra ID-style tokens that expire.
    flavor: str = "openai"
    conversations: int = 3  # Responses data: conversations of three turns each
    chains: int = 2  # Responses data: previous_response_id chains of three responses each
    conversations_api: bool = True  # False: no /conversations paths at all (a host without the Conversations API)
    api_key: str = "sk-fake"
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: tuple[FaultKind, ...] = ALL_FAULTS
    # A request that failed this many times in a row is answered normally: retries always end.
    fault_max_consecutive: int = 2
    slow_seconds: float = 30.0
    retry_after_ms: int = 50
    retry_after_seconds: int = 1
    quota_exhausted: bool = False
    rate_limit_requests: int = 10_000
    token_lifetime: float = 3600.0  # foundry: seconds an issued token is good for

    def __post_init__(self) -> None:
        # Accept plain strings ("500", "drop") as fault kinds; store the enum.
        object.__setattr__(self, "fault_kinds", tuple(FaultKind(kind) for kind in self.fault_kinds))
        object.__setattr__(self, "boundary_sizes", tuple(self.boundary_sizes))
        StepsSpec.parse(self.steps_per_run)
        for name in ("threads", "runs_per_thread", "days", "long_output_bytes", "fault_max_consecutive"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.flavor not in FLAVORS:
            raise ValueError(f"flavor must be one of {', '.join(FLAVORS)}, not {self.flavor!r}")
        if self.conversations < 0 or self.chains < 0:
            raise ValueError("conversations and chains must be >= 0")
        if any(size < 0 for size in self.boundary_sizes):
            raise ValueError("boundary sizes must be >= 0")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if self.fault_rate and not self.fault_kinds:
            raise ValueError("fault_rate > 0 needs at least one fault kind")
        if self.token_lifetime <= 0:
            raise ValueError("token_lifetime must be > 0")
        if self.latency_ms < 0 or self.slow_seconds < 0:
            raise ValueError("latency and slow_seconds must be >= 0")

    @classmethod
    def small(cls, **overrides: Any) -> FakeConfig:
        """A dataset that covers every variant in a few dozen steps: cheap enough for one test."""
        values: dict[str, Any] = {"threads": 2, "runs_per_thread": 5, "steps_per_run": "1-6", "boundary_sizes": ()}
        values.update(overrides)
        return cls(**values)

    @property
    def steps(self) -> StepsSpec:
        """The parsed ``steps_per_run``."""
        return StepsSpec.parse(self.steps_per_run)

    @property
    def start_ts(self) -> int:
        """Unix seconds of the start of the created_at window."""
        return int(datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC).timestamp())

    def with_runtime(self, **changes: Any) -> FakeConfig:
        """A copy with new latency/fault/auth options; refuses changes that would alter the dataset."""
        touched = DATA_FIELDS.intersection(changes)
        if touched:
            raise ValueError(f"cannot change the dataset of a running fake: {sorted(touched)}")
        return dataclasses.replace(self, **changes)
