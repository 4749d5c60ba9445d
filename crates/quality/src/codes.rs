//! Code tables rules check membership in, kept in the lake (`ref/<system>`). The ICD-10 table is
//! the region's diagnosis dictionary (国家临床版 2.0 or its local edition), loaded from a CSV of
//! `code,label`; without one, ICD-10 rules check the code's form only.

use crate::{QualityError, compile::ICD10_TABLE};
use hdos_core::validate::parse_icd10;
use hdos_lake::{
    Lake, TableName,
    arrow::{
        array::{ArrayRef, StringArray},
        datatypes::{DataType, Field, Schema},
        record_batch::RecordBatch,
    },
};
use std::sync::Arc;

/// Reads `code,label` lines (a header line is skipped); every code must be a well-formed ICD-10
/// code, or nothing is loaded and the bad lines are named.
pub fn parse_icd10_csv(text: &str) -> Result<Vec<(String, String)>, QualityError> {
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || (n == 0 && line.starts_with("code")) {
            continue;
        }
        let (code, label) = line.split_once(',').unwrap_or((line, ""));
        let code = code.trim().trim_matches('"');
        if parse_icd10(code).is_err() {
            bad.push(format!("line {}: `{code}`", n + 1));
            continue;
        }
        rows.push((code.to_owned(), label.trim().trim_matches('"').to_owned()));
    }
    if !bad.is_empty() {
        let shown: Vec<&str> = bad.iter().take(5).map(String::as_str).collect();
        return Err(QualityError::InvalidRule {
            rule: "icd10 code table".into(),
            reason: format!(
                "{} line(s) are not ICD-10 codes: {}",
                bad.len(),
                shown.join("; ")
            ),
        });
    }
    if rows.is_empty() {
        return Err(QualityError::InvalidRule {
            rule: "icd10 code table".into(),
            reason: "the file holds no codes".into(),
        });
    }
    Ok(rows)
}

/// Replaces the ICD-10 table with `rows`; returns how many codes it holds.
pub async fn load_icd10(lake: &Lake, rows: &[(String, String)]) -> Result<usize, QualityError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("code", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, false),
    ]));
    let table = TableName::new(ICD10_TABLE)?;
    lake.create_table(&table, &schema).await?;
    let codes: ArrayRef = Arc::new(
        rows.iter()
            .map(|r| Some(r.0.as_str()))
            .collect::<StringArray>(),
    );
    let labels: ArrayRef = Arc::new(
        rows.iter()
            .map(|r| Some(r.1.as_str()))
            .collect::<StringArray>(),
    );
    let batch = RecordBatch::try_new(schema, vec![codes, labels])?;
    lake.replace(&table, vec![batch]).await?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dictionary_loads_only_when_every_code_is_icd10() {
        let rows =
            parse_icd10_csv("code,label\nI10,高血压\nE11.900,2型糖尿病\n\n").expect("parses");
        assert_eq!(rows.len(), 2);
        let err = parse_icd10_csv("code,label\nI10,x\nI1O,y\nhello,z\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2 line(s)") && err.contains("line 3: `I1O`"),
            "{err}"
        );
        assert!(parse_icd10_csv("code,label\n").is_err());
    }
}
