"""Run dbt commands in one process (dbt's start-up is most of a small run) and print their results as JSON.

Run by ``.venv-dbt/bin/python``: ``run_dbt.py PROJECT_DIR STEPS_JSON``. STEPS is a list of dbt argument lists,
or ``{"copy": [SRC, DST]}`` to copy a file between two commands. Prints one line per dbt command:
``{"args": [...], "success": bool, "results": {node name: [status, failures]}}``.
"""

import json
import shutil
import sys

from dbt.cli.main import dbtRunner


def main() -> None:
    project, steps = sys.argv[1], json.loads(sys.argv[2])
    runner = dbtRunner()
    for step in steps:
        if isinstance(step, dict):
            shutil.copy(*step["copy"])
            continue
        outcome = runner.invoke([*step, "--project-dir", project, "--profiles-dir", project])
        results = getattr(outcome.result, "results", None) or []
        nodes = {r.node.name: [str(r.status), getattr(r, "failures", None)] for r in results}
        print(json.dumps({"args": step, "success": outcome.success, "results": nodes}), flush=True)


if __name__ == "__main__":
    main()
