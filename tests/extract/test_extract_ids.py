"""Ids are checked before they enter a URL: path tricks and junk are input errors that say what is allowed."""

from __future__ import annotations

import pytest

from etl.errors import InputError
from etl.extract.ids import RunRef, runs_path, validate_id


@pytest.mark.parametrize("value", ["run_abc123", "thread-ABC_09", "a", "x" * 128])
def test_valid_ids_pass_unchanged(value: str) -> None:
    assert validate_id("run", value) == value


@pytest.mark.parametrize("value", ["../x", "a/b", "", "x" * 129, "run 1", "run\n", "run%2F", "ünï", "a?b=c", "a#b"])
def test_unsafe_ids_are_input_errors(value: str) -> None:
    with pytest.raises(InputError, match=r"run id .* is not valid: an id is 1 to 128 characters from A-Z"):
        validate_id("run", value)


def test_the_bad_value_is_quoted_escaped_and_truncated() -> None:
    with pytest.raises(InputError) as caught:
        validate_id("thread", "bad\n" + "y" * 200)
    message = str(caught.value)
    assert message.startswith("thread id 'bad\\n" + "y" * 36 + "'...")
    assert "y" * 50 not in message


def test_non_strings_are_input_errors() -> None:
    with pytest.raises(InputError, match="thread id of type int"):
        validate_id("thread", 12)


def test_run_ref_parses_thread_slash_run_and_builds_paths() -> None:
    ref = RunRef.parse(" thread_x/run_y ")
    assert (ref.thread_id, ref.run_id, str(ref)) == ("thread_x", "run_y", "thread_x/run_y")
    assert ref.steps_path == "/threads/thread_x/runs/run_y/steps"
    assert ref.run_path == "/threads/thread_x/runs/run_y"
    assert runs_path("thread_x") == "/threads/thread_x/runs"


@pytest.mark.parametrize(
    ("text", "match"), [("thread_x", "THREAD_ID/RUN_ID"), ("t/../x", "run id '../x'"), ("../t/r", "thread id '..'")]
)
def test_run_ref_rejects_bad_pairs(text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        RunRef.parse(text)


def test_a_run_ref_cannot_be_built_around_an_unsafe_id() -> None:
    with pytest.raises(InputError):
        RunRef("thread_x", "../../admin")
    with pytest.raises(InputError):
        runs_path("a/b")


def test_refs_compare_by_ids_only() -> None:
    assert RunRef("t", "r", {"id": "r"}) == RunRef("t", "r")
    assert len({RunRef("t", "r", {"id": "r"}), RunRef("t", "r")}) == 1
