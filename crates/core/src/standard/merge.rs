//! Merging a dataset patch into a standard: a new dataset is added whole; an existing one may gain
//! fields, but nothing already defined may be redefined differently.

use super::{Dataset, parse::DatasetPatch};
use crate::CoreError;

/// Adds `patch` to `datasets`, or extends the dataset of the same name.
pub(super) fn apply(datasets: &mut Vec<Dataset>, patch: DatasetPatch) -> Result<(), CoreError> {
    match datasets.iter_mut().find(|d| d.name == patch.name) {
        Some(existing) => extend(existing, patch),
        None => {
            datasets.push(complete(patch)?);
            Ok(())
        }
    }
}

/// A new dataset, which must state its whole header.
fn complete(patch: DatasetPatch) -> Result<Dataset, CoreError> {
    match (patch.name_zh, patch.category, patch.key) {
        (Some(name_zh), Some(category), Some(key)) => Ok(Dataset {
            name: patch.name,
            name_zh,
            category,
            key,
            cursor: patch.cursor,
            fields: patch.fields,
        }),
        (name_zh, category, key) => {
            let missing: Vec<&str> = [
                ("name_zh", name_zh.is_none()),
                ("category", category.is_none()),
                ("key", key.is_none()),
            ]
            .into_iter()
            .filter_map(|(k, absent)| absent.then_some(k))
            .collect();
            Err(CoreError::InvalidStandard(format!(
                "dataset `{}` is new, so it must define {}",
                patch.name,
                missing.join(", ")
            )))
        }
    }
}

/// Adds the patch's new fields to `existing` after checking the header agrees.
fn extend(existing: &mut Dataset, patch: DatasetPatch) -> Result<(), CoreError> {
    let conflict = |what: &str, theirs: String, ours: String| {
        Err(CoreError::InvalidStandard(format!(
            "dataset `{}`: the extension sets {what} {theirs}, but the standard has {ours}",
            existing.name
        )))
    };
    if let Some(v) = &patch.name_zh
        && *v != existing.name_zh
    {
        return conflict(
            "name_zh",
            format!("`{v}`"),
            format!("`{}`", existing.name_zh),
        );
    }
    if let Some(v) = patch.category
        && v != existing.category
    {
        return conflict(
            "category",
            format!("`{v}`"),
            format!("`{}`", existing.category),
        );
    }
    if let Some(v) = &patch.key
        && *v != existing.key
    {
        return conflict("key", format!("{v:?}"), format!("{:?}", existing.key));
    }
    if patch.cursor.is_some() && patch.cursor != existing.cursor {
        return conflict(
            "cursor",
            format!("{:?}", patch.cursor),
            format!("{:?}", existing.cursor),
        );
    }
    let mut added = Vec::new();
    for field in patch.fields {
        match existing.field(&field.name) {
            Some(known) if *known == field => {}
            Some(_) => {
                return Err(CoreError::InvalidStandard(format!(
                    "dataset `{}`: field `{}` is already defined differently \
                     (an extension may add fields, not redefine them)",
                    existing.name, field.name
                )));
            }
            None => added.push(field),
        }
    }
    existing.fields.extend(added);
    Ok(())
}
