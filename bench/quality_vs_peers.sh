#!/usr/bin/env bash
# Quality control of an outpatient-visit table with the default rule set: hdos, DuckDB (the
# equivalent SQL over the same Parquet files) and Great Expectations (pandas engine, the
# equivalent expectations), on the same data in the same run.
# Usage: bench/quality_vs_peers.sh [ROWS] [GX_ROWS]   (defaults 10,000,000 and 1,000,000;
# needs a release build). Great Expectations reads a table of GX_ROWS rows written for it.
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-10000000}"
gx_rows="${2:-1000000}"
data="${HDOS_BENCH_DIR:-target/bench-data}"
venv="target/bench-venv-quality"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet duckdb==1.5.5 great_expectations==1.24.1 pandas pyarrow pytz
fi
ratio() { python3 -c 'import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); print(json.dumps({"ratio_hdos_over_"+b["backend"]: round(a["rows_per_s"]/b["rows_per_s"], 2)}))' "$1" "$2"; }
lake_of() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["lake"])' "$1"; }

hdos_line="$(target/release/hdos --data-dir "$data" bench quality --rows "$rows" | tail -n 1)"
echo "$hdos_line"
duck_line="$("$venv/bin/python" bench/quality_duckdb.py "$(lake_of "$hdos_line")" "$data/bench-quality/duckdb")"
echo "$duck_line"
ratio "$hdos_line" "$duck_line"

hdos_small="$(target/release/hdos --data-dir "$data/gx" bench quality --rows "$gx_rows" | tail -n 1)"
echo "$hdos_small"
gx_line="$("$venv/bin/python" bench/quality_great_expectations.py "$(lake_of "$hdos_small")")"
echo "$gx_line"
ratio "$hdos_small" "$gx_line"
