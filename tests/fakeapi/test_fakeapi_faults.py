"""Injected faults over real HTTP: each kind as a client meets it, deterministic per seed, never forever."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from etl.fakeapi import FakeServer, FaultKind

HEADERS = {"Authorization": "Bearer sk-fake", "OpenAI-Beta": "assistants=v2"}
QUICK_FAULTS = tuple(kind for kind in FaultKind if kind is not FaultKind.SLOW)


def outcome(client: httpx.Client, path: str) -> str:
    """What a client sees: the status code, or the transport error's class name."""
    try:
        response = client.get(path)
    except httpx.TransportError as exc:
        return type(exc).__name__
    return str(response.status_code)


def runs_path(fake: FakeServer) -> str:
    return f"/threads/{fake.thread_ids[0]}/runs"


@pytest.mark.parametrize(
    ("kind", "status", "header"),
    [("429-ms", 429, "retry-after-ms"), ("429-s", 429, "retry-after"), ("500", 500, None), ("502", 502, None),
     ("503", 503, None)],
)
def test_status_faults(fake_api_factory: Callable[..., FakeServer], kind: str, status: int, header: str | None) -> None:
    fake = fake_api_factory(fault_rate=1.0, fault_kinds=(kind,), fault_max_consecutive=1, retry_after_ms=40)
    with httpx.Client(base_url=fake.base_url, headers=HEADERS) as client:
        faulted = client.get(runs_path(fake))
        retried = client.get(runs_path(fake))
    assert faulted.status_code == status
    assert "x-request-id" in faulted.headers
    if header == "retry-after-ms":
        assert faulted.headers[header] == "40"
    elif header == "retry-after":
        assert faulted.headers[header] == "1"
    if status == 502:
        assert faulted.headers["content-type"].startswith("text/html")
    else:
        assert faulted.json()["error"]["code"] == ("rate_limit_exceeded" if status == 429 else None)
    assert retried.status_code == 200 and retried.json()["object"] == "list"
    assert [r.fault for r in fake.requests] == [kind, None]


def test_dropped_connection_and_cut_body(fake_api_factory: Callable[..., FakeServer]) -> None:
    drop = fake_api_factory(fault_rate=1.0, fault_kinds=("drop",), fault_max_consecutive=1)
    cut = fake_api_factory(fault_rate=1.0, fault_kinds=("cut",), fault_max_consecutive=1)
    for fake, message in ((drop, "without sending a response"), (cut, "incomplete|complete message body")):
        with httpx.Client(base_url=fake.base_url, headers=HEADERS) as client:
            with pytest.raises(httpx.RemoteProtocolError, match=message):
                client.get(runs_path(fake))
            assert client.get(runs_path(fake)).status_code == 200
        assert [(r.fault, r.status) for r in fake.requests] == [(fake.config.fault_kinds[0].value, None), (None, 200)]


def test_slow_response_outlasts_the_client_timeout(fake_api_factory: Callable[..., FakeServer]) -> None:
    fake = fake_api_factory(fault_rate=1.0, fault_kinds=("slow",), fault_max_consecutive=1, slow_seconds=3)
    with httpx.Client(base_url=fake.base_url, headers=HEADERS, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get(runs_path(fake))
        assert client.get(runs_path(fake)).status_code == 200


def test_a_request_is_never_faulted_forever(fake_api_factory: Callable[..., FakeServer]) -> None:
    fake = fake_api_factory(fault_rate=1.0, fault_kinds=("500",), fault_max_consecutive=2)
    with httpx.Client(base_url=fake.base_url, headers=HEADERS) as client:
        seen = [outcome(client, runs_path(fake)) for _ in range(6)]
    assert seen == ["500", "500", "200", "500", "500", "200"]


def sequence(fake: FakeServer) -> list[str]:
    """The outcomes of a fixed request sequence: every run of the first thread, each fetched twice."""
    thread_id = fake.thread_ids[0]
    paths = [f"/threads/{thread_id}/runs/{run_id}" for run_id in fake.dataset.run_ids(thread_id)] * 2
    with httpx.Client(base_url=fake.base_url, headers=HEADERS) as client:
        return [outcome(client, path) for path in paths]


def test_faults_are_deterministic_for_a_seed(fake_api_factory: Callable[..., FakeServer]) -> None:
    options = {"threads": 1, "runs_per_thread": 15, "fault_rate": 0.5, "fault_kinds": QUICK_FAULTS}
    first = sequence(fake_api_factory(seed=3, **options))
    again = sequence(fake_api_factory(seed=3, **options))
    other = sequence(fake_api_factory(seed=4, **options))
    assert first == again
    assert first != other
    assert "200" in first and len(set(first)) >= 3
    assert 0.2 < first.count("200") / len(first) < 0.8


def test_fault_mix_can_be_changed_while_serving(fake_api: FakeServer) -> None:
    with httpx.Client(base_url=fake_api.base_url, headers=HEADERS) as client:
        assert outcome(client, runs_path(fake_api)) == "200"
        fake_api.reconfigure(fault_rate=1.0, fault_kinds=(FaultKind.UNAVAILABLE_503,), fault_max_consecutive=5)
        assert outcome(client, runs_path(fake_api)) == "503"
        fake_api.reconfigure(fault_rate=0.0)
        assert outcome(client, runs_path(fake_api)) == "200"
    with pytest.raises(ValueError, match="dataset"):
        fake_api.reconfigure(seed=9)
