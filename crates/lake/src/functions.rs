//! hdos SQL functions: the national code-system validators of hdos-core, callable from SQL so
//! quality rules compile to one vectorised scan instead of row-by-row interpretation.
//!
//! Every function takes text and returns NULL for NULL input, so a rule over an optional field
//! is "not applicable" where the value is missing.

use deltalake::{
    arrow::{
        array::{Array, ArrayRef, BooleanArray, Date32Array, StringArray},
        compute::cast,
        datatypes::DataType,
    },
    datafusion::{
        error::Result,
        logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf},
        prelude::SessionContext,
    },
};
use hdos_core::validate;
use std::sync::Arc;

/// The names of the functions [`register`] adds, for allow-lists of user-written SQL.
pub const NAMES: [&str; 8] = [
    "hdos_id_valid",
    "hdos_id_birth_date",
    "hdos_id_sex",
    "hdos_icd10_valid",
    "hdos_loinc_valid",
    "hdos_region_valid",
    "hdos_credit_code_valid",
    "hdos_mobile_valid",
];

/// A validator: whether a text is a valid code of its system.
type Check = fn(&str) -> bool;

/// Adds the hdos functions to a session.
pub fn register(ctx: &SessionContext) {
    let checks: [(&str, Check); 6] = [
        ("hdos_id_valid", |s| validate::parse_resident_id(s).is_ok()),
        ("hdos_icd10_valid", |s| validate::parse_icd10(s).is_ok()),
        ("hdos_loinc_valid", |s| validate::validate_loinc(s).is_ok()),
        ("hdos_region_valid", |s| {
            validate::validate_region_code(s).is_ok()
        }),
        ("hdos_credit_code_valid", |s| {
            validate::validate_credit_code(s).is_ok()
        }),
        ("hdos_mobile_valid", |s| {
            validate::normalize_mobile(s).is_ok()
        }),
    ];
    for (name, check) in checks {
        ctx.register_udf(predicate(name, check));
    }
    ctx.register_udf(id_birth_date());
    ctx.register_udf(id_sex());
}

/// The argument as one text array (scalars expanded), whatever string type it arrived as.
fn text_arg(args: &[ColumnarValue]) -> Result<(StringArray, bool)> {
    let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let first: ArrayRef = match arrays.first() {
        Some(a) => cast(a, &DataType::Utf8)?,
        None => Arc::new(StringArray::from(Vec::<Option<&str>>::new())),
    };
    let text = first
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .unwrap_or_else(|| StringArray::from(vec![None::<&str>; first.len()]));
    Ok((text, scalar))
}

/// The result array as a value of the same shape as the input (a scalar for a scalar).
fn shaped(array: ArrayRef, scalar: bool) -> Result<ColumnarValue> {
    if scalar {
        let value = deltalake::datafusion::scalar::ScalarValue::try_from_array(&array, 0)?;
        return Ok(ColumnarValue::Scalar(value));
    }
    Ok(ColumnarValue::Array(array))
}

fn predicate(name: &str, check: Check) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let (text, scalar) = text_arg(args)?;
            let out: BooleanArray = text.iter().map(|v| v.map(check)).collect();
            shaped(Arc::new(out), scalar)
        }),
    )
}

/// Days since 1970-01-01 of a date.
fn epoch_days(d: chrono::NaiveDate) -> Option<i32> {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

/// `hdos_id_birth_date(id)`: the birth date a valid resident ID encodes, else NULL.
fn id_birth_date() -> ScalarUDF {
    create_udf(
        "hdos_id_birth_date",
        vec![DataType::Utf8],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let (text, scalar) = text_arg(args)?;
            let out: Date32Array = text
                .iter()
                .map(|v| {
                    v.and_then(|s| validate::parse_resident_id(s).ok())
                        .and_then(|id| epoch_days(id.birth_date))
                })
                .collect();
            shaped(Arc::new(out), scalar)
        }),
    )
}

/// `hdos_id_sex(id)`: the GB/T 2261.1 sex code (`1` male, `2` female) a valid resident ID
/// encodes, else NULL.
fn id_sex() -> ScalarUDF {
    create_udf(
        "hdos_id_sex",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let (text, scalar) = text_arg(args)?;
            let out: StringArray = text
                .iter()
                .map(|v| {
                    v.and_then(|s| validate::parse_resident_id(s).ok())
                        .map(|id| id.sex.code())
                })
                .collect();
            shaped(Arc::new(out), scalar)
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::AsArray;

    async fn one_row(sql: &str) -> Vec<ArrayRef> {
        let ctx = SessionContext::new();
        register(&ctx);
        let batches = ctx
            .sql(sql)
            .await
            .expect("plans")
            .collect()
            .await
            .expect("runs");
        batches[0].columns().to_vec()
    }

    #[tokio::test]
    async fn validators_answer_per_row_and_pass_nulls_through() {
        let cols = one_row(
            "SELECT hdos_id_valid(v) AS ok, hdos_id_sex(v) AS sex, hdos_id_birth_date(v) AS born \
             FROM (VALUES ('11010519491231002X'), ('110105194912310021'), (NULL)) AS t(v)",
        )
        .await;
        let ok = cols[0].as_boolean();
        assert_eq!(
            (0..3)
                .map(|i| ok.is_valid(i).then(|| ok.value(i)))
                .collect::<Vec<_>>(),
            [Some(true), Some(false), None]
        );
        let sex = cols[1].as_string::<i32>();
        assert_eq!(sex.value(0), "2");
        assert!(sex.is_null(1) && sex.is_null(2));
        let born = cols[2]
            .as_any()
            .downcast_ref::<Date32Array>()
            .expect("dates");
        assert_eq!(
            born.value_as_date(0),
            chrono::NaiveDate::from_ymd_opt(1949, 12, 31)
        );
    }

    #[tokio::test]
    async fn code_systems_and_scalars() {
        let cols = one_row(
            "SELECT hdos_icd10_valid('E11.900'), hdos_icd10_valid('I1O'), \
             hdos_loinc_valid('2345-7'), hdos_loinc_valid('2345-8'), \
             hdos_region_valid('330106'), hdos_mobile_valid('138 0013 8000')",
        )
        .await;
        let got: Vec<bool> = cols.iter().map(|c| c.as_boolean().value(0)).collect();
        assert_eq!(got, [true, false, true, false, true, true]);
    }
}
