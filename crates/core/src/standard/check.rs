//! Whole-standard invariants: unique names, keys and cursors that exist, foreign keys that resolve.

use super::{Dataset, Field, Standard};
use crate::CoreError;
use std::collections::HashSet;

/// Checks everything that depends on more than one field.
pub(super) fn check(std: &Standard) -> Result<(), CoreError> {
    if std.version.trim().is_empty() {
        return Err(CoreError::InvalidStandard("`version` is empty".to_owned()));
    }
    if std.datasets.is_empty() {
        return Err(CoreError::InvalidStandard(
            "the standard defines no datasets".to_owned(),
        ));
    }
    let mut names = HashSet::new();
    for d in &std.datasets {
        if !names.insert(d.name.as_str()) {
            return Err(CoreError::InvalidStandard(format!(
                "duplicate dataset `{}`",
                d.name
            )));
        }
        check_dataset(std, d)?;
    }
    Ok(())
}

/// Checks one dataset's key, cursor and foreign keys.
fn check_dataset(std: &Standard, d: &Dataset) -> Result<(), CoreError> {
    let bad = |msg: String| {
        Err(CoreError::InvalidStandard(format!(
            "dataset `{}`: {msg}",
            d.name
        )))
    };
    if d.fields.is_empty() {
        return bad("has no fields".to_owned());
    }
    if d.key.is_empty() {
        return bad("has an empty key".to_owned());
    }
    for (i, k) in d.key.iter().enumerate() {
        if d.key[..i].contains(k) {
            return bad(format!("key field `{k}` is listed twice"));
        }
        match d.field(k) {
            None => return bad(format!("key field `{k}` is not a field of the dataset")),
            Some(f) if !f.required => return bad(format!("key field `{k}` must be required")),
            Some(_) => {}
        }
    }
    if let Some(c) = &d.cursor {
        match d.field(c) {
            None => return bad(format!("cursor `{c}` is not a field of the dataset")),
            Some(f) if !f.field_type.is_temporal() => {
                return bad(format!(
                    "cursor `{c}` must be a date or ts field, not `{}`",
                    f.field_type
                ));
            }
            Some(_) => {}
        }
    }
    for f in &d.fields {
        let Some(fk) = &f.foreign_key else { continue };
        match resolve(std, fk) {
            None => {
                return bad(format!(
                    "field `{}`: foreign key `{fk}` names no field of the standard \
                     (expected dataset.field)",
                    f.name
                ));
            }
            Some(target) if target.field_type != f.field_type => {
                return bad(format!(
                    "field `{}` is `{}` but its foreign key `{fk}` is `{}`",
                    f.name, f.field_type, target.field_type
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The field a `dataset.field` reference names.
fn resolve<'a>(std: &'a Standard, reference: &str) -> Option<&'a Field> {
    let (dataset, field) = reference.split_once('.')?;
    std.dataset(dataset)?.field(field)
}
