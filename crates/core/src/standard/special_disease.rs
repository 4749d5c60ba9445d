//! Special-disease ICD-10 category ranges: a diagnosis inside one is graded level 5.

use crate::CoreError;
use serde::{Deserialize, Serialize};

/// An inclusive range of ICD-10 categories, e.g. `B20`–`B24` (HIV/AIDS).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcdRange {
    /// First category of the range (letter + two digits).
    pub from: String,
    /// Last category of the range, inclusive.
    pub to: String,
    /// What the range covers, e.g. `艾滋病 HIV/AIDS`.
    pub label: String,
}

impl IcdRange {
    /// Whether a three-character category (e.g. `B21`) lies in the range.
    pub fn contains(&self, category: &str) -> bool {
        is_category(category) && self.from.as_str() <= category && category <= self.to.as_str()
    }

    /// Checks that both ends are categories and `from` ≤ `to`.
    pub(super) fn check(&self) -> Result<(), CoreError> {
        let bad = |reason: String| {
            Err(CoreError::InvalidStandard(format!(
                "special disease range {}–{} ({}): {reason}",
                self.from, self.to, self.label
            )))
        };
        for end in [&self.from, &self.to] {
            if !is_category(end) {
                return bad(format!(
                    "`{end}` is not an ICD-10 category (an upper-case letter and two digits)"
                ));
            }
        }
        if self.from > self.to {
            return bad("the range is empty (from > to)".to_owned());
        }
        Ok(())
    }
}

/// Whether `s` is an upper-case letter followed by two ASCII digits.
fn is_category(s: &str) -> bool {
    matches!(s.as_bytes(), [l, a, b] if l.is_ascii_uppercase() && a.is_ascii_digit() && b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(from: &str, to: &str) -> IcdRange {
        IcdRange {
            from: from.into(),
            to: to.into(),
            label: "test".into(),
        }
    }

    #[test]
    fn ranges_are_inclusive() {
        let r = range("A50", "A64");
        assert!(r.contains("A50") && r.contains("A57") && r.contains("A64"));
        assert!(!r.contains("A49") && !r.contains("A65") && !r.contains("B50"));
        assert!(!r.contains("A5") && !r.contains("A50.1"));
        assert!(range("Z21", "Z21").contains("Z21"));
    }

    #[test]
    fn malformed_ranges_are_rejected() {
        assert!(range("C00", "C97").check().is_ok());
        let msg = range("C97", "C00").check().unwrap_err().to_string();
        assert!(msg.contains("from > to"), "{msg}");
        let msg = range("c00", "C97").check().unwrap_err().to_string();
        assert!(msg.contains("`c00`"), "{msg}");
        assert!(range("C00.0", "C97").check().is_err());
    }
}
