"""Small pools of realistic strings the synthetic steps are made of."""

from __future__ import annotations

import random

import orjson

CODE_INPUTS = (
    "import pandas as pd\ndf = pd.read_csv('/mnt/data/sales.csv')\ndf.describe()",
    "sum(x * x for x in range(10))",
    "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [4, 1, 9])\nplt.savefig('/mnt/data/plot.png')",
    "print('\\n'.join(sorted(open('/mnt/data/names.txt').read().split())))",
)
CODE_LOGS = (
    "285",
    "       amount\ncount   120.0\nmean     41.7\nstd      12.3",
    "Traceback (most recent call last):\n  File \"<stdin>\", line 1\nZeroDivisionError: division by zero",
    "Ada\nGrace\nLinus",
)
FILE_NAMES = ("handbook.pdf", "q3-report.docx", "faq.md", "contracts/2025/acme.pdf", "notes (final).txt")
PASSAGES = (
    "Refunds are accepted within 30 days of purchase with a receipt.",
    "Revenue grew 12% quarter over quarter, driven by the EMEA region.",
    "To reset your password, open Settings → Security and choose “Reset”.",
    "The warranty covers manufacturing defects for two years.",
)
FUNCTIONS = (
    ("get_current_weather", {"location": "San Francisco, CA", "unit": "fahrenheit"}),
    ("lookup_order", {"order_id": "A-10023", "include_items": True}),
    ("search_flights", {"from": "CDG", "to": "NRT", "date": "2026-03-14", "passengers": 2}),
    ("convert_currency", {"amount": 129.99, "from": "EUR", "to": "JPY"}),
)
SHORT_OUTPUTS = ("70 degrees and sunny.", '{"status":"shipped","eta":"2026-01-09"}', "OK", "")
UNICODE_OUTPUTS = (
    "Température : 21 °C ☀️ — 東京は晴れ — مرحبا — naïve café",
    "👩‍👩‍👧‍👦 family · 🏳️‍🌈 · e\u0301 (combining) · 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 · line\u2028separator",
    "Ελληνικά, русский, עברית, हिन्दी, 한국어 — \t tabs and \"quotes\" and \\backslashes\\",
)
MESSAGES_METADATA = ({"source": "support-bot"}, {"ticket": "T-4821", "channel": "email"})


def function_arguments(rng: random.Random) -> tuple[str, str]:
    """A function name and its arguments as the JSON text the model sent."""
    name, args = rng.choice(FUNCTIONS)
    return name, orjson.dumps(args).decode()


def long_output(size: int) -> str:
    """A deterministic ASCII function output of exactly ``size`` characters (and bytes)."""
    unit = '{"row":12345,"sku":"SKU-0000000042","qty":3,"price":19.99},'
    return ("[" + unit * (size // len(unit) + 1))[:size]
