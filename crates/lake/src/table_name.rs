use crate::LakeError;
use std::fmt;

/// A table's path under the lake root, such as `std/patient` or `raw/his01/brxx`: segments of
/// lowercase ASCII letters, digits and `_`, so a name can never escape the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName(String);

impl TableName {
    pub fn new(name: &str) -> Result<Self, LakeError> {
        let err = |reason: &str| LakeError::InvalidTableName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        if name.is_empty() || name.len() > 200 {
            return Err(err("must have 1–200 characters"));
        }
        for segment in name.split('/') {
            if segment.is_empty() {
                return Err(err("empty path segment"));
            }
            if !segment
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(err("segments use only a-z, 0-9 and _"));
            }
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name DataFusion queries use: `std/patient` becomes `std_patient`.
    pub fn sql_name(&self) -> String {
        self.0.replace('/', "_")
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_the_root() {
        assert!(TableName::new("std/patient").is_ok());
        for bad in ["", "../etc", "std//x", "Std/x", "std/x y", "/abs"] {
            assert!(TableName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sql_names_flatten_the_path() -> Result<(), LakeError> {
        assert_eq!(
            TableName::new("raw/his01/brxx")?.sql_name(),
            "raw_his01_brxx"
        );
        Ok(())
    }
}
