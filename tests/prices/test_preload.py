"""``preload_prices``: the bundled price data loads in a thread of its own, once, and lookups find it loaded."""

from __future__ import annotations

import subprocess
import sys

from paths import REPO


def test_preload_loads_the_price_data_once_in_a_daemon_thread() -> None:
    code = (
        "import sys, threading\n"
        "started = []\n"
        "start = threading.Thread.start\n"
        "def counted(self):\n"
        "    started.append((self.name, self.daemon))\n"
        "    start(self)\n"
        "threading.Thread.start = counted\n"
        "from etl.prices import catalog, preload_prices\n"
        "assert 'genai_prices.data' not in sys.modules\n"
        "preload_prices()\n"
        "preload_prices()\n"
        "[t.join() for t in threading.enumerate() if t.name == 'runsteps-prices']\n"
        "loaded = 'genai_prices.data' in sys.modules\n"
        "found = catalog.lookup('gpt-4o-2024-08-06')\n"
        "print(started, loaded, found.model_id, found.periods[0].input > 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[('runsteps-prices', True)] True gpt-4o True"
