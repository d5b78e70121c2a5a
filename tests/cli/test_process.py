"""The ``runsteps`` process (``etl.cli.process``): no pandas, tuned collections, a quick exit that loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from paths import REPO

RUNSTEPS = [sys.executable, "-m", "etl"]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)


def test_set_up_keeps_pandas_out_of_pyarrow_and_raises_the_collection_thresholds() -> None:
    done = _python(
        "import gc, sys\n"
        "from etl.cli import process\n"
        "process.set_up()\n"
        "import pyarrow as pa\n"
        "assert pa.array(['a', None]).to_pylist() == ['a', None]\n"
        "try:\n"
        "    import pandas\n"
        "except ModuleNotFoundError as exc:\n"
        "    refused = str(exc)\n"
        "print(sys.modules.get('pandas'), gc.get_threshold(), refused)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None (50000, 20, 100) runsteps does not use pandas"


def test_set_up_keeps_httpx_from_loading_its_command_line_client() -> None:
    done = _python(
        "import sys\n"
        "from etl.cli import process\n"
        "process.set_up()\n"
        "import httpx\n"
        "print('httpx._main' in sys.modules, 'pygments' in sys.modules, httpx.Client.__name__)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False False Client"


def test_set_up_keeps_numpy_out_and_arrow_parquet_and_duckdb_work_without_it() -> None:
    done = _python(
        "import importlib.util, io, sys\n"
        "assert importlib.util.find_spec('numpy') is not None, 'numpy is installed: what is refused must exist'\n"
        "from etl.cli import process\n"
        "process.set_up()\n"
        "import duckdb, pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq\n"
        "table = pa.table({'n': [1, 2, None], 'ts': pa.array([0, 86400, None], pa.timestamp('s', tz='UTC'))})\n"
        "buffer = io.BytesIO()\n"
        "pq.write_table(table, buffer)\n"
        "back = pq.read_table(io.BytesIO(buffer.getvalue()))\n"
        "con = duckdb.connect()\n"
        "con.register('t', back)\n"
        "rows = con.sql('SELECT sum(n), CAST(max(ts) AS VARCHAR) FROM t').fetchall()\n"
        "arrow = con.sql('SELECT n FROM t WHERE n > 1').to_arrow_table()\n"
        "print('numpy' in sys.modules, rows, pc.sum(arrow['n']).as_py())\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False [(3, '1970-01-02 00:00:00+00')] 2"


def test_set_up_still_refuses_pandas_when_httpx_came_first() -> None:
    done = _python(
        "import sys, httpx\n"
        "from etl.cli import process\n"
        "process.set_up()\n"
        "import pyarrow as pa\n"
        "pa.array([1])\n"
        "print('pandas' in sys.modules)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_set_up_leaves_pandas_alone_when_it_is_already_imported() -> None:
    done = _python(
        "import pandas, sys\n"
        "from etl.cli import process\n"
        "process.set_up()\n"
        "import pyarrow as pa\n"
        "print(pa.array(pandas.Series([1, 2])).to_pylist())\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1, 2]"


def test_a_large_output_reaches_a_pipe_whole_before_the_quick_exit() -> None:
    done = subprocess.run([*RUNSTEPS, "schema", "--format", "json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    tables = json.loads(done.stdout)
    assert len(done.stdout) > 10_000
    assert "run_steps" in json.dumps(tables)


def test_exit_codes_and_the_error_line_survive_the_quick_exit(tmp_path: Path) -> None:
    dest = tmp_path / "out.duckdb"
    done = subprocess.run(
        [*RUNSTEPS, "export", "--run", "thread_1/not a run id", "--dest", str(dest)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-test-process"},
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert not dest.exists()


def test_end_waits_for_a_thread_that_is_still_working(tmp_path: Path) -> None:
    marker = tmp_path / "written"
    done = _python(
        "import threading, time\n"
        "from etl.cli import process\n"
        "def work():\n"
        "    time.sleep(0.5)\n"
        f"    open({str(marker)!r}, 'w').write('done')\n"
        "threading.Thread(target=work).start()\n"
        "process.end(3)\n"
    )
    assert done.returncode == 3
    assert marker.read_text() == "done"


def test_sigterm_is_ctrl_c_unless_sigint_is_ignored() -> None:
    """Where SIGINT is ignored (a background job of a shell script), a SIGTERM turned into SIGINT would be ignored
    too: it keeps its default there, which ends the process."""
    code = (
        "import signal, sys, os\n"
        "if sys.argv[1] == 'ignored': signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "from etl.cli import process\n"
        "process.set_up()\n"
        "print(signal.getsignal(signal.SIGTERM) is process._as_interrupt)\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    signal.sigtimedwait([], 0.5) if hasattr(signal, 'sigtimedwait') else None\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    bridged = subprocess.run([sys.executable, "-c", code, "default"], capture_output=True, text=True, timeout=60)
    ignored = subprocess.run([sys.executable, "-c", code, "ignored"], capture_output=True, text=True, timeout=60)
    assert bridged.stdout.split() == ["True", "interrupted"], bridged.stderr
    assert ignored.stdout.split() == ["False"] and ignored.returncode == -15, (ignored.stdout, ignored.stderr)
