"""Transform: run and run step objects, as parsed from the API's JSON, into Arrow record batches.

Pure functions (no I/O, no clock: ``extracted_at`` is passed in) whose output is exactly in the schemas of
``etl.schema``. Objects of a type this version does not know are kept and counted as schema drift; a value
of the wrong JSON type or a missing id raises ``etl.errors.TransformError`` naming the object and field.
"""

from etl.transform.runs import to_runs_table
from etl.transform.steps import StepTables, to_step_tables
from etl.transform.tables import Drift, to_tables

__all__ = ["Drift", "StepTables", "to_runs_table", "to_step_tables", "to_tables"]
