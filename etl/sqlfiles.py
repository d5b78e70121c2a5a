"""The one loader of the ``.sql`` files: analysis queries, data checks and the views they share.

The files live in the repository's top-level ``sql/`` (``queries/``, ``checks/``, ``views/``) and ship in the
wheel as ``etl/_sql``, which in the source tree is a symlink to ``../sql`` (so an editable install and a plain
checkout read the very same files). Each file opens with comment lines:

    -- What the query answers (for a check: the rule it enforces). This first line is its description.
    -- param: since = 1970-01-01          a named parameter ``$since`` and its default (NULL for none)
    -- severity: warning                 a check's severity: ``error`` (the default) fails ``runsteps sql check``
                                          and the DAG's checks task; ``warning`` is reported and fails nothing

A view file holds one SELECT; it becomes ``CREATE TEMP VIEW <file name> AS <select>``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

from etl.errors import InputError

Kind = Literal["queries", "checks", "views"]
Severity = Literal["error", "warning"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning")
KINDS: tuple[Kind, ...] = ("queries", "checks", "views")
SINGULAR: dict[Kind, str] = {"queries": "query", "checks": "check", "views": "view"}

_PARAM = re.compile(r"--\s*param:\s*(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<default>.*?)\s*$")
_SEVERITY = re.compile(r"--\s*severity:\s*(?P<value>.*?)\s*$")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class SqlFile:
    """One ``.sql`` file: its name, the first line of its header, its parameters, severity and text."""

    kind: Kind
    name: str
    description: str
    text: str
    params: Mapping[str, str | None] = field(default_factory=dict)  # name -> default (None = NULL)
    severity: Severity = "error"  # checks only: whether rows breaking the rule fail the run

    @property
    def body(self) -> str:
        """The statement without its trailing semicolon, ready to be wrapped in a view or a subquery."""
        return self.text.strip().rstrip(";").rstrip()

    def bind(self, values: Mapping[str, object] | None = None) -> dict[str, object]:
        """Parameter values for a run: the declared defaults, overridden by ``values`` (unknown names refused)."""
        given = dict(values or {})
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "none"
            raise InputError(f"{self.name} has no parameter {', '.join(unknown)} (its parameters: {known})")
        return {name: given.get(name, default) for name, default in self.params.items()}


def parse(kind: Kind, name: str, text: str) -> SqlFile:
    """Read a file's header: the first comment line is its description, then ``-- param:`` and ``-- severity:``."""
    if not _NAME.fullmatch(name):
        # View names become SQL identifiers and query names CLI arguments: keep them plain.
        raise ValueError(f"sql/{kind}/{name}.sql: name it with lowercase letters, digits and underscores")
    description = ""
    params: dict[str, str | None] = {}
    severity: Severity = "error"
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("--"):
            break
        match = _PARAM.match(line)
        marked = _SEVERITY.match(line)
        if match:
            default = match.group("default")
            params[match.group("name")] = None if default.upper() in ("", "NULL") else default
        elif marked:
            severity = _severity(kind, name, marked.group("value"))
        elif not description:
            description = line.lstrip("-").strip()
    if not description:
        raise ValueError(f"sql/{kind}/{name}.sql: start it with a comment line saying what it is for")
    return SqlFile(kind, name, description, text, params, severity)


def _severity(kind: Kind, name: str, value: str) -> Severity:
    """A ``-- severity:`` value; only checks have one (queries and views break no rule)."""
    if kind != "checks":
        raise ValueError(f"sql/{kind}/{name}.sql: only a check has a severity")
    for severity in SEVERITIES:
        if value == severity:
            return severity
    raise ValueError(f"sql/{kind}/{name}.sql: severity {value!r} is not one of: {', '.join(SEVERITIES)}")


@functools.cache
def sql_files(kind: Kind) -> dict[str, SqlFile]:
    """Every file of one kind, by name, in name order."""
    folder = resources.files("etl").joinpath("_sql", kind)
    if not folder.is_dir():
        return {}
    files = [
        parse(kind, entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return {f.name: f for f in sorted(files, key=lambda f: f.name)}


def sql_file(kind: Kind, name: str) -> SqlFile:
    """One file by name; an unknown name is an ``InputError`` listing the names there are."""
    files = sql_files(kind)
    try:
        return files[name]
    except KeyError:
        raise InputError(f"no {SINGULAR[kind]} named {name!r}; there are: {', '.join(files)}") from None
