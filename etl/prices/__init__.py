"""What runs cost: model prices by date (``PriceBook``), the user's files, and the ``model_prices`` table.

``book.price_at(model, moment)`` is the lookup any table with a model and a timestamp can use; the cost views
(``sql/views/run_costs.sql``, ``step_costs.sql``) do the same join in SQL over ``model_prices``.
"""

from etl.prices.book import Price, PriceBook
from etl.prices.files import UserPrice, read_model_map, read_prices_file
from etl.prices.refresh import COVERS, ModelUse, PricesReport, load_price_book, write_model_prices

__all__ = [
    "COVERS",
    "ModelUse",
    "Price",
    "PriceBook",
    "PricesReport",
    "UserPrice",
    "load_price_book",
    "read_model_map",
    "read_prices_file",
    "write_model_prices",
]
