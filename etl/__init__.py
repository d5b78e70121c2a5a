"""run-steps-etl: export OpenAI Assistants run steps into Parquet or DuckDB."""

__version__ = "0.1.0"
