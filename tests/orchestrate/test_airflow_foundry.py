"""The DAG's functions for a Foundry project: the provider from an Azure-style Connection, all_threads, shards."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential
from expected_foundry import actual_entity_tables, foundry_tables

from etl.config import Settings
from etl.fakeapi import FakeConfig, serve_in_thread
from etl.fakeapi.foundry import FakeCredential
from etl.load.duckdb import load_parquet_into_duckdb
from etl.load.parquet import parquet_dataset
from etl.orchestrate import DagParams, ThreadSource, Window, export_shard, plan_export, settings_from_connection

PROJECT = "https://res-1.services.ai.azure.com/api/projects/proj-1"


@dataclass
class AzureConnection:
    """An Airflow Connection as the Azure provider lays one out."""

    conn_type: str | None = "azure"
    host: str | None = PROJECT
    login: str | None = None
    password: str | None = None
    port: int | None = None
    conn_id: str | None = "foundry"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return self.extra


def test_an_azure_connection_gives_foundry_settings_and_the_matching_credential() -> None:
    principal = settings_from_connection(
        AzureConnection(login="client-1", password="secret-1", extra={"tenantId": "tenant-1", "api_version": "v1"})
    )
    assert (principal.provider_spec.name, principal.base_url, principal.api_version_value) == ("foundry", PROJECT, "v1")
    assert isinstance(principal.credential, ClientSecretCredential)
    assert not principal.api_key and "secret-1" not in repr(principal)
    in_extras = {"tenant_id": "tenant-1", "client_id": "client-1", "client_secret": "secret-1"}
    assert isinstance(settings_from_connection(AzureConnection(extra=in_extras)).credential, ClientSecretCredential)
    managed = settings_from_connection(AzureConnection(extra={"managed_identity_client_id": "mi-1"}))
    assert isinstance(managed.credential, ManagedIdentityCredential)
    own = settings_from_connection(AzureConnection(conn_type="generic", extra={"provider": "foundry"}), concurrency=3)
    assert isinstance(own.credential, DefaultAzureCredential) and own.concurrency == 3
    # A project endpoint as host implies foundry even on an OpenAI-type connection.
    implied = settings_from_connection(AzureConnection(conn_type="openai", password=None))
    assert implied.provider_spec.name == "foundry"


def test_the_all_threads_param() -> None:
    params = DagParams.from_mapping({"dest": "/data/root", "all_threads": True})
    assert params.all_threads and params.threads.empty
    assert not DagParams.from_mapping({"dest": "/data/root", "thread_ids": ["thread_a"]}).all_threads


def test_plan_and_shards_export_every_thread_of_the_project(tmp_path: Path) -> None:
    config = FakeConfig.small(flavor="foundry", threads=3, runs_per_thread=4, seed=3, token_lifetime=30)
    with serve_in_thread(config) as fake:
        settings = Settings(
            provider="foundry", base_url=fake.base_url, credential=FakeCredential(fake.root_url), concurrency=4
        )
        window = Window(config.start_ts, config.start_ts + config.days * 86_400)
        dest = tmp_path / "root"
        plan = plan_export(settings, ThreadSource(), str(dest), window, 3, all_threads=True)
        metrics = [export_shard(settings, str(dest), part, list_threads=True) for part in plan]
        truth = fake.truth
        assert sum(m["runs_ok"] for m in metrics) == len(truth.runs)
        assert sum(m["rows"].get("threads", 0) for m in metrics) == len(truth.threads)
        runs = parquet_dataset(str(dest), "runs").to_table().column("run_id").to_pylist()
        assert sorted(runs) == sorted(r["id"] for r in truth.runs)
        load_parquet_into_duckdb(str(dest), str(tmp_path / "x.duckdb"))
        for where in (str(dest), str(tmp_path / "x.duckdb")):
            entities = actual_entity_tables(where)
            want = foundry_tables(truth)
            assert set(entities["threads"]) == set(want["threads"])
            assert set(entities["assistants"]) == set(want["assistants"])


def test_a_real_airflow_connection_of_type_azure_is_read() -> None:
    from airflow.models import Connection

    uri_conn = Connection(
        conn_id="foundry",
        conn_type="azure",
        host=PROJECT,
        login="client-1",
        password="secret-1",
        extra=json.dumps({"tenantId": "tenant-1"}),
    )
    settings = settings_from_connection(uri_conn)
    assert (settings.provider_spec.name, settings.base_url) == ("foundry", PROJECT)
    assert isinstance(settings.credential, ClientSecretCredential)
    # The OpenAI connection of the same Airflow keeps its key and its provider.
    openai = settings_from_connection(
        Connection(conn_id="openai_default", conn_type="openai", host="https://api.openai.com/v1", password="sk-1")
    )
    assert (openai.provider_spec.name, openai.api_key.reveal(), openai.credential) == ("openai", "sk-1", None)
