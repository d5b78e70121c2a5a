"""``--source responses`` end to end against the fake (faults 0.2): by ids, by conversations (twice, growing), by
previous_response_id chains, incremental, on DuckDB and Parquet; each object of the fake's truth stored once."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner
from responses_expected import actual, expected, keyed

from etl.cli import cli
from etl.config import Secret, Settings
from etl.fakeapi import FakeServer
from etl.fakeapi.responses_data import FUTURE_ITEM_TYPE
from etl.pipeline import ExportOptions
from etl.pipeline_responses import ResponsesExportSummary, ResponseSources, run_responses_export

FAULTS: dict[str, Any] = {
    "fault_rate": 0.2,
    "fault_kinds": ("429-ms", "500", "502", "503", "drop", "cut"),
    "retry_after_ms": 1,
}


def _settings(server: FakeServer, **changes: Any) -> Settings:
    return Settings(api_key=Secret("sk-fake"), base_url=server.base_url, api="responses", max_retries=8, **changes)


def _export(server: FakeServer, dest: str, **sources: Any) -> ResponsesExportSummary:
    return run_responses_export(_settings(server), ResponseSources(**sources), ExportOptions(dest=dest))


@pytest.fixture(params=["duckdb", "parquet"])
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / ("out.duckdb" if request.param == "duckdb" else "out"))


def test_by_ids_and_conversations_holds_the_fakes_objects_once(
    fake_api_factory: Callable[..., FakeServer], dest: str
) -> None:
    server = fake_api_factory(**FAULTS)
    truth = server.responses.truth
    summary = _export(server, dest, responses=tuple(truth.responses), conversations=tuple(truth.conversations))
    assert summary.exit_code == 0, summary.failures
    assert summary.retries > 0  # the faults were met, and retried
    assert actual(dest) == expected(truth)
    # the one item type this version does not know is kept whole and counted as drift
    unknown = [r for r in keyed(dest, "response_items").values() if r["type"] == FUTURE_ITEM_TYPE]
    assert len(unknown) == 1 and unknown[0]["raw_json"] and summary.schema_drift_kinds == {"item_type:hologram_call": 1}
    # large payloads are not stored by default
    items = [*keyed(dest, "response_items").values(), *keyed(dest, "conversation_items").values()]
    stored = " ".join(str(r["details_json"]) + str(r["output"]) for r in items)
    assert "data:image/png;base64" not in stored and "not stored:" in stored
    # the include[] values that carry data are asked for; encrypted reasoning only with --keep-payloads
    for record in server.requests:
        if record.kind in ("response_get", "input_items_list", "conversation_items_list"):
            query = unquote(record.query)
            assert "include[]=file_search_call.results" in query and "reasoning.encrypted_content" not in query


def test_conversations_twice_fetch_only_the_new_items(fake_api_factory: Callable[..., FakeServer], dest: str) -> None:
    server = fake_api_factory(**FAULTS)
    truth = server.responses.truth
    conversations = tuple(truth.conversations)
    _export(server, dest, conversations=conversations)
    assert actual(dest)["conversation_items"] == expected(truth)["conversation_items"]
    last = {cid: items[-1]["id"] for cid, items in truth.conversation_items.items()}
    before = {cid: len(items) for cid, items in truth.conversation_items.items()}
    grown = conversations[0]
    server.responses.grow(grown)
    server.log.reset()

    summary = _export(server, dest, conversations=conversations)
    assert summary.exit_code == 0
    assert summary.conversation_items_new == len(truth.conversation_items[grown]) - before[grown] > 0
    assert actual(dest)["conversation_items"] == expected(truth)["conversation_items"]
    assert keyed(dest, "conversations")[(grown,)]["item_count"] == len(truth.conversation_items[grown])
    # every item request of the second export started after the last item the first one stored
    answered = [r for r in server.requests if r.path.endswith("/items") and r.status == 200]
    assert answered and all("order=asc" in r.query for r in answered)
    firsts = {r.path.split("/")[-2]: r.query for r in answered if r.query.count("after=") == 1}
    for cid in conversations:
        assert f"after={last[cid]}" in firsts[cid]
    items_served = sum(len(_page_ids(server, r.path, r.query)) for r in answered)
    assert items_served == summary.conversation_items_new


def _page_ids(server: FakeServer, path: str, query: str) -> list[str]:
    """The item ids one logged items request was answered with (replayed against the fake's truth)."""
    from urllib.parse import parse_qs

    cid = path.split("/")[-2]
    items = [item["id"] for item in server.responses.truth.conversation_items[cid]]
    params = parse_qs(query)
    start = items.index(params["after"][0]) + 1 if "after" in params else 0
    return items[start : start + int(params["limit"][0])]


def test_finished_responses_are_not_fetched_again_pending_ones_are(
    fake_api_factory: Callable[..., FakeServer], dest: str
) -> None:
    server = fake_api_factory()
    truth = server.responses.truth
    ids = tuple(truth.responses)
    pending = {rid for rid, r in truth.responses.items() if r["status"] in ("queued", "in_progress")}
    assert len(pending) == 2
    _export(server, dest, responses=ids)
    server.responses.finish_pending()
    server.log.reset()
    summary = _export(server, dest, responses=ids)
    fetched = {r.path.rsplit("/", 1)[-1] for r in server.requests if r.kind == "response_get"}
    assert fetched == pending
    assert summary.runs_skipped == len(ids) - len(pending)
    assert actual(dest)["responses"] == expected(truth)["responses"]
    assert {keyed(dest, "responses")[(rid,)]["status"] for rid in pending} == {"completed"}


def test_follow_previous_walks_each_chain_to_its_start(fake_api_factory: Callable[..., FakeServer], dest: str) -> None:
    server = fake_api_factory(**FAULTS)
    truth = server.responses.truth
    chains = truth.chains()
    assert len(chains) == 2 and all(len(chain) == 3 for chain in chains)
    summary = _export(server, dest, responses=tuple(chain[-1] for chain in chains), follow_previous=True)
    assert summary.exit_code == 0
    members = {rid for chain in chains for rid in chain}
    assert actual(dest)["responses"] == expected(truth, responses=members)["responses"]
    assert actual(dest)["response_items"] == expected(truth, responses=members)["response_items"]
    stored = keyed(dest, "responses")
    for chain in chains:
        assert [stored[(rid,)]["previous_response_id"] for rid in chain] == [None, *chain[:-1]]


def test_conversation_items_name_the_responses_exported_with_them(
    fake_api_factory: Callable[..., FakeServer], tmp_path: Path
) -> None:
    server = fake_api_factory()
    truth = server.responses.truth
    dest = str(tmp_path / "x.duckdb")
    _export(server, dest, responses=tuple(truth.responses), conversations=tuple(truth.conversations))
    owner = {}
    for rid, response in truth.responses.items():
        for item in [*truth.input_items[rid], *response["output"]]:
            owner.setdefault(item["id"], rid)
    rows = keyed(dest, "conversation_items").values()
    assert rows and all(r["response_id"] == owner[r["item_id"]] for r in rows)


def test_cli_source_responses(fake_api_factory: Callable[..., FakeServer], tmp_path: Path) -> None:
    server = fake_api_factory()
    truth = server.responses.truth
    ids_file = tmp_path / "responses.csv"
    ids_file.write_text("response_id\n" + "\n".join(truth.responses) + "\n")
    dest = str(tmp_path / "cli.duckdb")
    args = ["export", "--source", "responses", "--responses-file", str(ids_file), "--dest", dest,
            "--base-url", server.base_url, "--metrics-json"]  # fmt: skip
    for cid in truth.conversations:
        args += ["--conversation", cid]
    result = CliRunner().invoke(cli, args, env={"OPENAI_API_KEY": "sk-fake"})
    assert result.exit_code == 0, result.output
    assert '"responses_ok": 20' in result.output.splitlines()[-1]
    assert actual(dest) == expected(truth)
    status = CliRunner().invoke(cli, ["status", "--dest", dest])
    items = sum(len(i) for i in truth.conversation_items.values())
    assert "responses: 2 active, 18 finished" in status.output
    assert f"conversations: {len(truth.conversations)} ({items} items)" in status.output
    assert "runs: 0 (0 steps)" in status.output


def test_cli_refuses_a_bad_id_before_creating_anything(tmp_path: Path) -> None:
    dest = tmp_path / "never.duckdb"
    args = ["export", "--source", "responses", "--response", "resp/../x", "--dest", str(dest)]
    result = CliRunner().invoke(cli, args, env={"OPENAI_API_KEY": "sk-fake"})
    assert result.exit_code == 2
    assert "error: response id" in result.output and not dest.exists()


def test_azure_openai_v1_with_its_api_key_header(fake_api_factory: Callable[..., FakeServer], tmp_path: Path) -> None:
    server = fake_api_factory()
    truth = server.responses.truth
    dest = str(tmp_path / "azure.duckdb")
    # the resource's /openai path: the provider description adds the v1 path of the Responses API
    settings = _settings(server, provider="azure")
    settings = dataclasses.replace(settings, base_url=f"{server.azure_endpoint}/openai")
    summary = run_responses_export(
        settings, ResponseSources(responses=tuple(truth.responses)), ExportOptions(dest=dest)
    )
    assert summary.exit_code == 0
    assert actual(dest)["responses"] == expected(truth)["responses"]
    paths = {r.path.split("/responses")[0] for r in server.requests}
    assert paths == {"/openai/v1"}
    assert all("api-version" not in r.query for r in server.requests)


def test_keep_payloads_stores_them_as_sent(fake_api_factory: Callable[..., FakeServer], tmp_path: Path) -> None:
    server = fake_api_factory()
    truth = server.responses.truth
    dest = str(tmp_path / "payloads.duckdb")
    _export(server, dest, responses=tuple(truth.responses), keep_payloads=True)
    rows = keyed(dest, "response_items")
    sent = {
        (rid, direction, index): item
        for rid, response in truth.responses.items()
        for direction, items in (("input", truth.input_items[rid]), ("output", response["output"]))
        for index, item in enumerate(items)
    }
    reasoning = [key for key, item in sent.items() if item["type"] == "reasoning"]
    images = [key for key, item in sent.items() if item["type"] == "image_generation_call"]
    assert reasoning and images
    for key in reasoning:
        assert sent[key]["encrypted_content"] in rows[key]["details_json"]
    for key in images:
        assert sent[key]["result"] in rows[key]["details_json"]
    asked = [unquote(r.query) for r in server.requests if r.kind == "response_get"]
    assert asked and all("include[]=reasoning.encrypted_content" in query for query in asked)


def test_foundry_lists_every_response_and_conversation(fake_api_factory: Callable[..., FakeServer], dest: str) -> None:
    from etl.fakeapi.foundry import FakeCredential

    server = fake_api_factory(flavor="foundry", **FAULTS)
    truth = server.responses.truth
    token = FakeCredential(server.root_url).get_token("https://ai.azure.com/.default").token
    settings = _settings(server, provider="foundry")
    settings = dataclasses.replace(settings, api_key=Secret(token))
    sources = ResponseSources(all_responses=True, all_conversations=True)
    summary = run_responses_export(settings, sources, ExportOptions(dest=dest))
    assert summary.exit_code == 0, summary.failures
    assert actual(dest) == expected(truth)
    assert {r["agent"] for r in keyed(dest, "responses").values()} == {"support-agent", "research-agent"}
    answered = [r for r in server.requests if r.status == 200]
    assert {r.kind for r in answered} >= {"responses_list", "conversations_list", "input_items_list"}
    assert all(r.path.startswith("/api/projects/") and "/openai/v1/" in r.path for r in answered)
    # a listed response that is finished is not fetched on its own; a still running one is
    fetched = {r.path.rsplit("/", 1)[-1] for r in answered if r.kind == "response_get"}
    assert fetched == {rid for rid, r in truth.responses.items() if r["status"] in ("queued", "in_progress")}


def test_listing_needs_a_host_that_lists(fake_api_factory: Callable[..., FakeServer], tmp_path: Path) -> None:
    from etl.errors import InputError

    server = fake_api_factory()
    with pytest.raises(InputError, match="need a host that lists them"):
        _export(server, str(tmp_path / "x.duckdb"), all_responses=True)
    assert not (tmp_path / "x.duckdb").exists()


def test_follow_previous_goes_on_past_responses_exported_before(
    fake_api_factory: Callable[..., FakeServer], dest: str
) -> None:
    server = fake_api_factory()
    truth = server.responses.truth
    chains = truth.chains()
    _export(server, dest, responses=tuple(chain[1] for chain in chains))  # the middles, without their heads
    server.log.reset()
    summary = _export(server, dest, responses=tuple(chain[-1] for chain in chains), follow_previous=True)
    members = {rid for chain in chains for rid in chain}
    assert actual(dest)["responses"] == expected(truth, responses=members)["responses"]
    fetched = {r.path.rsplit("/", 1)[-1] for r in server.requests if r.kind == "response_get"}
    assert fetched == {rid for chain in chains for rid in (chain[0], chain[-1])}  # not the middles again
    assert summary.runs_skipped == len(chains)


def test_shards_split_responses_and_conversations_between_them(
    fake_api_factory: Callable[..., FakeServer], tmp_path: Path
) -> None:
    from etl.sharding import Shard

    server = fake_api_factory()
    truth = server.responses.truth
    dest = str(tmp_path / "sharded")
    sources = ResponseSources(responses=tuple(truth.responses), conversations=tuple(truth.conversations))
    done = []
    for index in range(2):
        options = ExportOptions(dest=dest, shard=Shard(index, 2))
        done.append(run_responses_export(_settings(server), sources, options))
    assert [s.responses_ok for s in done] == [sum(Shard(i, 2).owns(rid) for rid in truth.responses) for i in range(2)]
    assert all(s.responses_ok for s in done)
    assert actual(dest) == expected(truth)


def test_cli_azure_openai_v1(fake_api_factory: Callable[..., FakeServer], tmp_path: Path) -> None:
    server = fake_api_factory()
    truth = server.responses.truth
    dest = str(tmp_path / "azure-cli.duckdb")
    base_url = f"{server.azure_endpoint}/openai/v1/"
    args = ["export", "--source", "responses", "--provider", "azure", "--base-url", base_url,
            "--api-key-env", "AZURE_OPENAI_API_KEY", "--dest", dest]  # fmt: skip
    args += [arg for rid in truth.responses for arg in ("--response", rid)]
    result = CliRunner().invoke(cli, args, env={"AZURE_OPENAI_API_KEY": "sk-fake"})
    assert result.exit_code == 0, result.output
    assert actual(dest)["responses"] == expected(truth)["responses"]
    assert {r.path.split("/responses")[0] for r in server.requests} == {"/openai/v1"}
