//! Suggesting how a source table maps onto the standard, from its column names (the standard's
//! names, common HIS names in Chinese and English, and the pinyin initials of every Chinese name)
//! and from the values in a sample (date formats, code spellings, ID numbers). A manager confirms
//! or edits the suggestion; nothing here is applied without that.

use crate::{
    mapping::{
        DEFAULT_UTC_OFFSET_MINUTES, FieldMapping, TableMapping, TimeFormat, Transform,
        parse_decimal,
    },
    source::Column,
};
use hdos_core::standard::{Dataset, Field, FieldType, Standard};
use pinyin::ToPinyin;
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::OnceLock,
};

#[derive(Debug, Deserialize)]
struct Dictionary {
    names: BTreeMap<String, Vec<String>>,
    values: BTreeMap<String, BTreeMap<String, String>>,
}

fn dictionary() -> &'static Dictionary {
    static DICT: OnceLock<Dictionary> = OnceLock::new();
    DICT.get_or_init(|| {
        toml::from_str(include_str!("suggest/dictionary.toml")).unwrap_or(Dictionary {
            names: BTreeMap::new(),
            values: BTreeMap::new(),
        })
    })
}

/// A suggested mapping, with how sure each part is and why.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    pub mapping: TableMapping,
    /// How well the table fits the dataset, 0–1.
    pub score: f64,
    pub fields: Vec<FieldNote>,
    /// Source columns no standard field took.
    pub unused_columns: Vec<String>,
}

/// Why a field was mapped as it was, or what the manager should check.
#[derive(Debug, Clone, Serialize)]
pub struct FieldNote {
    pub target: String,
    pub source: Option<String>,
    pub confidence: f64,
    pub reasons: Vec<String>,
    /// Sample values the suggested transforms could not map (a local code table to confirm).
    pub unresolved_values: Vec<String>,
}

/// Lowercase letters, digits and CJK characters only: `Pat_ID` and `patid` compare equal.
fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// Pinyin initials of the Chinese characters, other letters and digits kept: `病人ID` → `brid`.
fn initials(s: &str) -> String {
    s.chars()
        .zip(s.to_pinyin())
        .filter_map(|(c, p)| match p {
            Some(p) => p.plain().chars().next(),
            None if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            None => None,
        })
        .collect()
}

/// Common abbreviations in English column names, expanded before comparing words.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("pat", "patient"),
    ("pt", "patient"),
    ("diag", "diagnosis"),
    ("dx", "diagnosis"),
    ("dept", "department"),
    ("adm", "admission"),
    ("addr", "address"),
    ("no", "id"),
    ("num", "id"),
    ("number", "id"),
    ("dt", "time"),
    ("datetime", "time"),
    ("date", "time"),
    ("at", "time"),
    ("tm", "time"),
    ("desc", "name"),
    ("amt", "amount"),
    ("freq", "frequency"),
];

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_ascii_lowercase();
            ABBREVIATIONS
                .iter()
                .find(|(a, _)| *a == w)
                .map_or(w, |(_, full)| (*full).to_owned())
        })
        .collect()
}

/// How well a column name matches a field, 0–1, with the reason.
fn name_score(column: &str, field: &Field) -> (f64, String) {
    let col = normalise(column);
    let col_initials = initials(column);
    let col_words = words(column);
    let mut names: Vec<&str> = vec![&field.name, &field.name_zh];
    if let Some(aliases) = dictionary().names.get(&field.name) {
        names.extend(aliases.iter().map(String::as_str));
    }
    let mut best = (0.0, String::new());
    let mut consider = |score: f64, why: String| {
        if score > best.0 {
            best = (score, why);
        }
    };
    for name in names {
        let n = normalise(name);
        if n == col {
            consider(1.0, format!("column name is `{name}`"));
        }
        if has_cjk(name) && !has_cjk(column) && initials(name) == col_initials {
            consider(0.9, format!("pinyin initials of `{name}`"));
        }
        if !has_cjk(name) && !has_cjk(column) && !col_words.is_empty() && words(name) == col_words {
            consider(0.85, format!("same words as `{name}`"));
        }
        let long_enough = if has_cjk(&n) {
            n.chars().count() >= 2
        } else {
            n.len() >= 4
        };
        if long_enough && (col.contains(&n) || (col.chars().count() >= 2 && n.contains(&col))) {
            consider(0.5, format!("name contains `{name}`"));
        }
    }
    best
}

/// What a sample says about whether a column can fill a field: a factor 0–1 and a transform.
struct Evidence {
    factor: f64,
    transforms: Vec<Transform>,
    reasons: Vec<String>,
    unresolved: Vec<String>,
}

const TIME_FORMATS: [&str; 5] = [
    "yyyy-MM-dd HH:mm:ss",
    "yyyyMMddHHmmss",
    "yyyy-MM-ddTHH:mm:ss",
    "yyyy/MM/dd HH:mm:ss",
    "epoch_s",
];
const DATE_FORMATS: [&str; 4] = ["yyyy-MM-dd", "yyyyMMdd", "yyyy/MM/dd", "epoch_s"];

/// Whether `v` reads in `format`; epoch seconds only between 1900 and 2100.
fn reads_as(format: &str, v: &str) -> bool {
    if format == "epoch_s" {
        return v
            .parse::<i64>()
            .is_ok_and(|n| (-2_208_988_800..4_102_444_800).contains(&n));
    }
    let Ok(TimeFormat::Pattern(p, time)) = TimeFormat::parse(format) else {
        return false;
    };
    if time {
        chrono::NaiveDateTime::parse_from_str(v, &p).is_ok()
    } else {
        chrono::NaiveDate::parse_from_str(v, &p).is_ok()
    }
}

fn share(values: &[&str], ok: impl Fn(&str) -> bool) -> f64 {
    if values.is_empty() {
        return 1.0;
    }
    values.iter().filter(|v| ok(v)).count() as f64 / values.len() as f64
}

fn evidence(field: &Field, column: &Column, sample: &[Option<&str>]) -> Evidence {
    let mut e = Evidence {
        factor: 1.0,
        transforms: Vec::new(),
        reasons: Vec::new(),
        unresolved: Vec::new(),
    };
    if sample.iter().any(|v| v.is_some_and(str::is_empty)) {
        e.transforms.push(Transform::NullIfEmpty);
        e.reasons.push("empty text means missing".into());
    }
    let values: Vec<&str> = sample
        .iter()
        .flatten()
        .copied()
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        e.factor = 0.8;
        return e;
    }
    // The first format that reads the most values: spelled dates before epoch numbers, which
    // would also read `20260301`.
    let best_format = |formats: &[&'static str]| -> Option<(&'static str, f64)> {
        formats
            .iter()
            .map(|f| (*f, share(&values, |v| reads_as(f, v))))
            .fold(None, |best: Option<(&str, f64)>, next| match best {
                Some(b) if b.1 >= next.1 => Some(b),
                _ => Some(next),
            })
    };
    match field.field_type {
        FieldType::Timestamp | FieldType::Date => {
            let formats: &[&str] = if field.field_type == FieldType::Date {
                &DATE_FORMATS
            } else {
                &TIME_FORMATS
            };
            match best_format(formats) {
                Some((format, s)) if s >= 0.95 => {
                    let format = format.to_owned();
                    e.reasons.push(format!("values read as {format}"));
                    e.transforms.push(if field.field_type == FieldType::Date {
                        Transform::Date { format }
                    } else {
                        Transform::Timestamp { format }
                    });
                }
                _ => e.factor = 0.1,
            }
        }
        FieldType::Dec { precision, scale } => {
            e.factor = share(&values, |v| parse_decimal(v, precision, scale).is_ok()).max(0.05);
            let integers = values.iter().all(|v| v.parse::<i64>().is_ok());
            if integers && column.declared_type.to_ascii_uppercase().contains("INT") && scale > 0 {
                e.transforms.push(Transform::Divide { by: 100 });
                e.reasons
                    .push("whole numbers in an INTEGER column: read as fen (check)".into());
            }
        }
        FieldType::Int => e.factor = share(&values, |v| v.parse::<i64>().is_ok()).max(0.05),
        FieldType::Bool => {
            let yes_no = ["1", "0", "Y", "N", "T", "F", "true", "false", "是", "否"];
            e.factor = share(&values, |v| yes_no.contains(&v)).max(0.05);
        }
        FieldType::Str { max_len } => {
            e.factor = share(&values, |v| v.chars().count() <= max_len as usize).max(0.05);
            if field.name == "id_no" {
                let valid = share(&values, |v| {
                    hdos_core::validate::parse_resident_id(v).is_ok()
                });
                if valid > 0.5 {
                    e.factor = 1.2;
                    e.reasons
                        .push("values are valid resident ID numbers".into());
                }
            }
        }
        FieldType::Code if !field.domain.is_empty() => code_evidence(field, &values, &mut e),
        FieldType::Code => {}
    }
    e
}

/// Matches sample values to the field's code domain: codes as they are, known spellings, or
/// labels that contain the value; unmatched values are listed for the manager.
fn code_evidence(field: &Field, values: &[&str], e: &mut Evidence) {
    let known = dictionary().values.get(&field.name);
    let distinct: BTreeSet<&str> = values.iter().copied().collect();
    let mut map = BTreeMap::new();
    let mut direct = 0;
    for v in &distinct {
        if field.domain.iter().any(|c| c.code == *v) {
            direct += 1;
            map.insert((*v).to_owned(), (*v).to_owned());
        } else if let Some(code) = known.and_then(|k| k.get(*v)) {
            map.insert((*v).to_owned(), code.clone());
        } else if let Some(c) = field.domain.iter().find(|c| {
            c.label
                .split_whitespace()
                .any(|l| l == *v || (has_cjk(v) && l.contains(*v)))
        }) {
            map.insert((*v).to_owned(), c.code.clone());
        } else {
            e.unresolved.push((*v).to_owned());
        }
    }
    let matched = distinct.len() - e.unresolved.len();
    // A column with unknown spellings is still suggested, flagged for the manager to confirm.
    e.factor = (matched as f64 / distinct.len().max(1) as f64).max(0.4);
    if direct == distinct.len() {
        e.reasons.push("values are the standard's codes".into());
    } else if !map.is_empty() {
        // Spellings not in the sample still map: every label and known spelling is included.
        for c in &field.domain {
            map.entry(c.code.clone()).or_insert_with(|| c.code.clone());
            for label in c.label.split_whitespace() {
                map.entry(label.to_owned())
                    .or_insert_with(|| c.code.clone());
            }
        }
        for (spelling, code) in known.into_iter().flatten() {
            map.entry(spelling.clone()).or_insert_with(|| code.clone());
        }
        e.reasons
            .push("values spelled differently: code table suggested".into());
        e.transforms.push(Transform::Codes { map, other: None });
    }
    if !e.unresolved.is_empty() {
        e.reasons.push(format!(
            "{} value(s) not in the code table: confirm them",
            e.unresolved.len()
        ));
    }
}

/// One candidate pairing of a column with a field.
struct Candidate {
    field: usize,
    column: usize,
    score: f64,
    reasons: Vec<String>,
    transforms: Vec<Transform>,
    unresolved: Vec<String>,
}

fn candidates(
    dataset: &Dataset,
    columns: &[Column],
    sample: &[Vec<Option<String>>],
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (fi, field) in dataset.fields.iter().enumerate() {
        if field.name == "institution_code" {
            continue;
        }
        for (ci, column) in columns.iter().enumerate() {
            let (name, why) = name_score(&column.name, field);
            if name == 0.0 {
                continue;
            }
            let values: Vec<Option<&str>> = sample
                .iter()
                .map(|r| r.get(ci).and_then(|v| v.as_deref()))
                .collect();
            let ev = evidence(field, column, &values);
            let mut reasons = vec![why];
            reasons.extend(ev.reasons);
            out.push(Candidate {
                field: fi,
                column: ci,
                score: (name * ev.factor).min(1.0),
                reasons,
                transforms: ev.transforms,
                unresolved: ev.unresolved,
            });
        }
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// The best mapping of the table onto `dataset`: columns given to fields greedily, best pair
/// first, each column and field used once.
fn fit(
    dataset: &Dataset,
    table: &str,
    columns: &[Column],
    sample: &[Vec<Option<String>>],
) -> Suggestion {
    let mut taken_fields = BTreeSet::new();
    let mut taken_columns = BTreeSet::new();
    let mut chosen: Vec<Candidate> = Vec::new();
    for c in candidates(dataset, columns, sample) {
        if c.score < 0.3 || taken_fields.contains(&c.field) || taken_columns.contains(&c.column) {
            continue;
        }
        taken_fields.insert(c.field);
        taken_columns.insert(c.column);
        chosen.push(c);
    }
    chosen.sort_by_key(|c| c.field);
    let mappable = dataset
        .fields
        .iter()
        .filter(|f| f.name != "institution_code")
        .count();
    let score = chosen.iter().map(|c| c.score).sum::<f64>() / mappable.max(1) as f64;
    let cursor = dataset.cursor.as_deref().and_then(|cur| {
        chosen
            .iter()
            .find(|c| dataset.fields[c.field].name == cur)
            .map(|c| columns[c.column].name.clone())
    });
    let fields = chosen
        .iter()
        .map(|c| FieldMapping {
            target: dataset.fields[c.field].name.clone(),
            source: Some(columns[c.column].name.clone()),
            expression: None,
            transforms: c.transforms.clone(),
        })
        .collect();
    let mut notes: Vec<FieldNote> = chosen
        .iter()
        .map(|c| FieldNote {
            target: dataset.fields[c.field].name.clone(),
            source: Some(columns[c.column].name.clone()),
            confidence: (c.score * 100.0).round() / 100.0,
            reasons: c.reasons.clone(),
            unresolved_values: c.unresolved.clone(),
        })
        .collect();
    for f in &dataset.fields {
        if f.name != "institution_code" && !notes.iter().any(|n| n.target == f.name) {
            notes.push(FieldNote {
                target: f.name.clone(),
                source: None,
                confidence: 0.0,
                reasons: vec!["no column matched".into()],
                unresolved_values: Vec::new(),
            });
        }
    }
    Suggestion {
        mapping: TableMapping {
            source_table: table.to_owned(),
            dataset: dataset.name.clone(),
            cursor,
            utc_offset_minutes: DEFAULT_UTC_OFFSET_MINUTES,
            fields,
        },
        score,
        fields: notes,
        unused_columns: columns
            .iter()
            .enumerate()
            .filter(|(i, _)| !taken_columns.contains(i))
            .map(|(_, c)| c.name.clone())
            .collect(),
    }
}

/// The least score at which a table is taken to hold a dataset.
pub const MIN_SCORE: f64 = 0.45;

/// The dataset the table most likely holds and its mapping, or `None` when no dataset fits.
pub fn suggest(
    standard: &Standard,
    table: &str,
    columns: &[Column],
    sample: &[Vec<Option<String>>],
) -> Option<Suggestion> {
    standard
        .datasets()
        .iter()
        // Institutions are registered centrally, not collected from a HIS.
        .filter(|d| d.name != "institution")
        .map(|d| fit(d, table, columns, sample))
        .filter(|s| s.score >= MIN_SCORE)
        .max_by(|a, b| a.score.total_cmp(&b.score))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinyin_initials_follow_the_characters() {
        assert_eq!(initials("病人ID"), "brid");
        assert_eq!(initials("身份证号"), "sfzh");
        assert_eq!(initials("LOINC编码"), "loincbm");
    }

    #[test]
    fn names_match_in_chinese_pinyin_and_english() {
        let std = Standard::builtin().unwrap();
        let patient = std.dataset("patient").unwrap();
        let f = |n: &str| patient.field(n).unwrap();
        assert!(name_score("BRID", f("patient_id")).0 >= 0.9);
        assert!(name_score("患者编号", f("patient_id")).0 >= 0.9);
        assert!(name_score("Pat_ID", f("patient_id")).0 >= 0.85);
        assert!(name_score("SFZH", f("id_no")).0 >= 0.9);
        assert_eq!(name_score("GXSJ", f("name")).0, 0.0);
    }
}
