"""Validate API bodies against the official OpenAPI component schemas (needs the ``dev`` extra).

The spec is a verbatim subset of openai/openai-openapi kept beside this module. OpenAPI 3.1 schemas are
JSON Schema 2020-12, so ``jsonschema`` validates them directly, with the relaxations of ``deviations``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from etl.fakeapi.deviations import spec_for_validation

SPEC_PATH = Path(__file__).parent / "spec" / "openai-assistants-runs-openapi.yaml"


@functools.cache
def load_spec() -> dict[str, Any]:
    """The OpenAPI document, as published."""
    import yaml  # dev extra: only the tests validate

    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


class SpecValidator:
    """Checks bodies against ``#/components/schemas/<name>``: strictly, or with the known deviations."""

    def __init__(self, *, deviations: bool = True, future_variants: bool = False) -> None:
        from jsonschema import Draft202012Validator

        spec = load_spec()
        self._root = spec_for_validation(spec, future_variants=future_variants) if deviations else spec
        self._validators: dict[str, Any] = {}
        self._cls = Draft202012Validator

    def errors(self, body: Any, schema_name: str) -> list[str]:
        """Every violation of ``body`` against the named component schema (empty: valid)."""
        validator = self._validators.get(schema_name)
        if validator is None:
            # The whole document is the root resource, so the spec's '#/components/...' references resolve.
            validator = self._cls({**self._root, "$ref": f"#/components/schemas/{schema_name}"})
            self._validators[schema_name] = validator
        return [
            f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message[:300]}"
            for error in validator.iter_errors(body)
        ]
