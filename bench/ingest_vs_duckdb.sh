#!/usr/bin/env bash
# SQL batch collection of one hospital's outpatient visits: hdos (mapping into the std zone)
# and DuckDB (the same SQLite table copied to Parquet), on the same file in the same run.
# Usage: bench/ingest_vs_duckdb.sh [ROWS]   (default 1,000,000; needs a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-1000000}"
data="${HDOS_BENCH_DIR:-target/bench-data}"
venv="target/bench-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet duckdb==1.5.5 duckdb-extension-sqlite-scanner==1.5.5
fi
hdos_line="$(target/release/hdos --data-dir "$data" bench ingest --rows "$rows" | tail -n 1)"
echo "$hdos_line"
source_file="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["source"])' "$hdos_line")"
table="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["table"])' "$hdos_line")"
peer_line="$("$venv/bin/python" bench/ingest_duckdb.py "$source_file" "$table" "$data/bench-ingest/duckdb")"
echo "$peer_line"
python3 -c 'import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); print(json.dumps({"ratio_hdos_over_duckdb": round(a["rows_per_s"]/b["rows_per_s"], 2)}))' "$hdos_line" "$peer_line"
