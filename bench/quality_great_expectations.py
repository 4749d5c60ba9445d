"""The default quality rules of hdos's outpatient-visit dataset as Great Expectations
expectations (pandas engine) over the same Parquet files, every failing row reported
(result_format COMPLETE: GX otherwise keeps 20 to 200 examples). Prints one JSON line.

Usage: quality_great_expectations.py LAKE_DIR
"""
import glob
import json
import resource
import sys
import time

import great_expectations as gx
import pandas as pd

lake = sys.argv[1]


def read(table):
    return pd.concat(pd.read_parquet(f) for f in sorted(glob.glob(f"{lake}/{table}/*.parquet")))


start = time.perf_counter()
visits = read("std/outpatient_visit").reset_index(drop=True)
patients = read("std/patient")
codes = set(read("ref/icd10")["code"])
# Columns the expectations need that GX cannot derive itself.
visits["patient_key"] = visits["institution_code"] + " / " + visits["patient_id"]
patient_keys = set(patients["institution_code"] + " / " + patients["patient_id"])
visits["report_delay_hours"] = (visits["updated_at"] - visits["visit_time"]).dt.total_seconds() / 3600
visits["fee"] = visits["fee_total"].astype(float)

context = gx.get_context(mode="ephemeral")
e = gx.expectations
suite = gx.ExpectationSuite(name="outpatient_visit")
for column in ["visit_id", "patient_id", "institution_code", "dept_name", "visit_time",
               "diagnosis_code", "diagnosis_name", "updated_at"]:
    suite.add_expectation(e.ExpectColumnValuesToNotBeNull(column=column))
suite.add_expectation(e.ExpectColumnValuesToMatchRegex(
    column="diagnosis_code",
    regex=r"^([A-Z]\d{2}(\.\d{1,2})?|[A-Z]\d{2}\.[0-9x]\d{2}(x\d{3})?)$"))
suite.add_expectation(e.ExpectColumnValuesToBeInSet(column="diagnosis_code", value_set=sorted(codes)))
suite.add_expectation(e.ExpectColumnPairValuesAToBeGreaterThanB(
    column_A="updated_at", column_B="visit_time", or_equal=True))
suite.add_expectation(e.ExpectColumnValuesToBeBetween(column="fee", min_value=0))
suite.add_expectation(e.ExpectColumnValuesToBeInSet(column="patient_key", value_set=sorted(patient_keys)))
suite.add_expectation(e.ExpectColumnValuesToBeBetween(column="report_delay_hours", max_value=48))
suite.add_expectation(e.ExpectCompoundColumnsToBeUnique(column_list=["institution_code", "visit_id"]))

asset = context.data_sources.add_pandas("pandas").add_dataframe_asset("visits")
batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
    batch_parameters={"dataframe": visits})
suite = context.suites.add(suite)
result = batch.validate(suite, result_format="COMPLETE")
seconds = time.perf_counter() - start
failures = sum(r.result.get("unexpected_count", 0) or 0 for r in result.results)
rows = len(visits)
print(json.dumps({
    "bench": "quality_default_rules", "backend": "great_expectations", "version": gx.__version__,
    "rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "expectations": len(result.results), "failures": failures, "success": result.success,
}))
