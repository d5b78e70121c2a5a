"""Start-up: what an export does not need before its first request is not imported with the command line."""

from __future__ import annotations

import json
import subprocess
import sys

# The transform (and the pandas that pyarrow imports on its first conversion of a Python list) load in a thread
# while the first responses are awaited; the Parquet reader only for load_parquet_into_duckdb (issue 16).
LATER = ("etl.transform", "pandas", "pyarrow.dataset")


def test_the_export_command_and_the_duckdb_destination_import_without_the_transform() -> None:
    code = (
        "import json, sys; import etl.cli.export, etl.load.duckdb, etl.pipeline; "
        f"print(json.dumps([m for m in {list(LATER)!r} if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []
    # and the modules exist, so the check above can fail
    found = subprocess.run(
        [sys.executable, "-c", "import etl.transform, pyarrow.dataset; print('ok')"], capture_output=True, text=True
    )
    assert found.stdout.strip() == "ok"
