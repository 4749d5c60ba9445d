//! Input checks of records entered through the UI or the API, against the regional standard.

use crate::error::ApiError;
use hdos_store::NewInstitution;

pub const GRADES: &[&str] = &["三级", "二级", "一级", "未定级"];
pub const KINDS: &[&str] = &[
    "综合医院",
    "中医医院",
    "专科医院",
    "妇幼保健院",
    "社区卫生服务中心",
    "乡镇卫生院",
    "村卫生室",
    "疾控中心",
];

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
        )));
    }
    if i.name.is_empty() || i.name.chars().count() > 100 {
        return Err(ApiError::invalid("name must have 1–100 characters"));
    }
    if !GRADES.contains(&i.grade.as_str()) {
        return Err(ApiError::invalid(format!(
            "grade `{}` is not one of {}",
            i.grade,
            GRADES.join(", ")
        )));
    }
    if !KINDS.contains(&i.kind.as_str()) {
        return Err(ApiError::invalid(format!(
            "kind `{}` is not one of {}",
            i.kind,
            KINDS.join(", ")
        )));
    }
    hdos_core::validate::region::validate_region_code(&i.region_code)
        .map_err(|e| ApiError::invalid(format!("region_code: {e}")))?;
    Ok(())
}
