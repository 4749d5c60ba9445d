"""The default quality rules of hdos's outpatient-visit dataset, as DuckDB SQL over the same
Parquet files: counts per rule and institution (checked, failed), every failing record written to
Parquet, and each institution's newest record. Prints one JSON line.

Usage: quality_duckdb.py LAKE_DIR OUT_DIR
"""
import json
import os
import resource
import sys
import time

import duckdb

lake, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
visits = f"{lake}/std/outpatient_visit/*.parquet"
patients = f"{lake}/std/patient/*.parquet"
codes = f"{lake}/ref/icd10/*.parquet"

REQUIRED = ["visit_id", "patient_id", "institution_code", "dept_name", "visit_time",
            "diagnosis_code", "diagnosis_name", "updated_at"]
rules = {f"{f}.required": (f"TRUE", f"v.{f} IS NULL" + (f" OR trim(v.{f}) = ''" if f not in ("visit_time", "updated_at") else ""), f)
         for f in REQUIRED}
rules["diagnosis_code.icd10"] = (
    "v.diagnosis_code IS NOT NULL",
    "NOT (regexp_full_match(v.diagnosis_code, '[A-Z]\\d{2}(\\.\\d{1,2})?') OR "
    "regexp_full_match(v.diagnosis_code, '[A-Z]\\d{2}\\.[0-9x]\\d{2}(x\\d{3})?')) OR d.code IS NULL",
    "diagnosis_code")
rules["visit_time.not_future"] = (
    "v.visit_time IS NOT NULL",
    "v.visit_time > coalesce(v.updated_at, v._hdos_ingested_at) + INTERVAL 1 MINUTE "
    "OR v.visit_time > v._hdos_ingested_at + INTERVAL 1 MINUTE",
    "visit_time")
rules["fee_total.range"] = ("v.fee_total IS NOT NULL", "v.fee_total < 0", "fee_total")
rules["patient_id.reference"] = (
    "v.institution_code IS NOT NULL AND v.patient_id IS NOT NULL", "p.k0 IS NULL", "patient_id")
rules["updated_at.timeliness"] = (
    "v.visit_time IS NOT NULL AND v.updated_at IS NOT NULL",
    "v.updated_at > v.visit_time + INTERVAL 48 HOUR", "updated_at")

columns = ",\n  ".join(
    f"CASE WHEN {applies} THEN coalesce(({fails}), false) END AS \"r_{name}\""
    for name, (applies, fails, _) in rules.items())
con = duckdb.connect()
start = time.perf_counter()
con.execute(f"""
CREATE TEMP TABLE t AS
SELECT v._hdos_institution AS inst, v.institution_code || ' / ' || v.visit_id AS record_key,
  v.visit_id, v.patient_id, v.institution_code, v.dept_name, v.visit_time, v.diagnosis_code,
  v.diagnosis_name, v.fee_total, v.updated_at,
  {columns}
FROM read_parquet('{visits}') v
LEFT JOIN (SELECT DISTINCT institution_code AS k0, patient_id AS k1 FROM read_parquet('{patients}')) p
  ON v.institution_code = p.k0 AND v.patient_id = p.k1
LEFT JOIN (SELECT DISTINCT code FROM read_parquet('{codes}')) d ON v.diagnosis_code = d.code
""")
counts = ", ".join(
    f"count(\"r_{n}\"), count(*) FILTER (WHERE \"r_{n}\")" for n in rules)
per_institution = con.execute(f"SELECT inst, count(*), {counts} FROM t GROUP BY inst").fetchall()
failures = " UNION ALL ".join(
    f"SELECT '{n}' AS rule_id, inst, record_key, '{field}' AS field, CAST({field} AS VARCHAR) AS value "
    f"FROM t WHERE \"r_{n}\"" for n, (_, _, field) in rules.items())
con.execute(f"COPY ({failures}) TO '{out}/failures.parquet' (FORMAT parquet)")
failed = con.execute(f"SELECT count(*) FROM read_parquet('{out}/failures.parquet')").fetchone()[0]
newest = con.execute(
    f"SELECT _hdos_institution, max(updated_at) FROM read_parquet('{visits}') GROUP BY 1").fetchall()
seconds = time.perf_counter() - start
rows = sum(r[1] for r in per_institution)
print(json.dumps({
    "bench": "quality_default_rules", "backend": "duckdb", "version": duckdb.__version__,
    "rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "rules": len(rules) + 1, "failures": failed, "institutions": len(newest),
}))
