"""The peer of `hdos bench ingest`: DuckDB reads the same SQLite table and writes Parquet.

Usage: python ingest_duckdb.py SQLITE_FILE TABLE OUT_DIR
Prints one JSON line like the hdos benchmarks. The sqlite_scanner extension comes from the
`duckdb-extension-sqlite-scanner` wheel, so nothing is downloaded at run time.
"""

import json
import pathlib
import resource
import sys
import time

import duckdb
import duckdb_extension_sqlite_scanner


def main() -> None:
    source, table, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    ext = next(pathlib.Path(duckdb_extension_sqlite_scanner.__path__[0]).rglob("*.duckdb_extension"))
    con = duckdb.connect()
    con.execute(f"LOAD '{ext}'")
    start = time.perf_counter()
    con.execute(
        "COPY (SELECT * FROM sqlite_scan(?, ?)) TO '" + str(out / "visits.parquet") + "' (FORMAT parquet)",
        [source, table],
    )
    seconds = time.perf_counter() - start
    rows = con.execute(
        "SELECT count(*) FROM read_parquet('" + str(out / "visits.parquet") + "')"
    ).fetchone()[0]
    print(json.dumps({
        "bench": "ingest_sqlite_batch",
        "backend": f"duckdb {duckdb.__version__}",
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
