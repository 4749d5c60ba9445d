//! Input checks of records entered through the UI or the API, against the regional standard.

use crate::error::ApiError;
use hdos_store::NewInstitution;

/// The allowed codes of a field of the regional standard's `institution` dataset.
pub fn institution_domain(field: &str) -> Vec<String> {
    hdos_core::standard::Standard::builtin()
        .ok()
        .and_then(|s| s.dataset("institution"))
        .and_then(|d| d.field(field))
        .map(|f| f.domain.iter().map(|c| c.code.clone()).collect())
        .unwrap_or_default()
}

/// A unified social credit code: 18 characters of digits and upper-case letters.
fn is_credit_code(code: &str) -> bool {
    code.len() == 18
        && code
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

pub fn institution(i: &NewInstitution) -> Result<(), ApiError> {
    if !is_credit_code(&i.code) {
        return Err(ApiError::invalid(format!(
            "code `{}` is not an 18-character unified social credit code",
            i.code
        ))
        .localized("invalid.credit_code", vec![("value", i.code.clone())]));
    }
    if i.name.is_empty() || i.name.chars().count() > 100 {
        return Err(ApiError::invalid("name must have 1–100 characters")
            .localized("invalid.name_length", vec![]));
    }
    for (field, value) in [("grade", &i.grade), ("kind", &i.kind)] {
        let allowed = institution_domain(field);
        if !allowed.contains(value) {
            return Err(ApiError::invalid(format!(
                "{field} `{value}` is not one of {}",
                allowed.join(", ")
            ))
            .localized(
                "invalid.domain",
                vec![("value", value.clone()), ("allowed", allowed.join("、"))],
            ));
        }
    }
    hdos_core::validate::region::validate_region_code(&i.region_code).map_err(|e| {
        ApiError::invalid(format!("region_code: {e}")).localized(
            "invalid.region_code",
            vec![("value", i.region_code.clone())],
        )
    })?;
    Ok(())
}
