"""Print each table's row count and an MD5 of its rows as JSON; run by DuckDB 1.x and 2.x alike (stdlib + duckdb).

``python duckdb_digest.py FILE SPEC``: SPEC is JSON ``{table: {"key": [...], "columns": [...]}}``.
"""

import json
import sys

import duckdb


def main() -> None:
    path, spec = sys.argv[1], json.loads(sys.argv[2])
    con = duckdb.connect(path, read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    out = {"duckdb": duckdb.__version__, "tables": {}}
    for table, parts in spec.items():
        # Each value as text (NULL as a mark no value has), joined into one line per row, lines in key order.
        row = ", ".join(f"coalesce(CAST({column} AS VARCHAR), '<NULL>')" for column in parts["columns"])
        order = ", ".join(parts["key"])
        lines = f"string_agg(concat_ws(chr(31), {row}), chr(30) ORDER BY {order})"
        sql = f"SELECT count(*), md5(coalesce({lines}, '')) FROM {table}"
        count, digest = con.execute(sql).fetchall()[0]
        out["tables"][table] = [count, digest]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
