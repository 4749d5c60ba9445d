//! GB/T 2260 administrative division codes: six digits whose first two name a province-level
//! division (standards.md §3.6). Only the form is checked, not membership in a yearly code list.

use super::first_non_digit;
use crate::ErrorKind;

/// Province-level prefixes of GB/T 2260 (华北 1x … 西北 6x, 台湾 71, 香港 81, 澳门 82).
pub const PROVINCE_PREFIXES: [&str; 34] = [
    "11", "12", "13", "14", "15", // 华北
    "21", "22", "23", // 东北
    "31", "32", "33", "34", "35", "36", "37", // 华东
    "41", "42", "43", "44", "45", "46", // 中南
    "50", "51", "52", "53", "54", // 西南
    "61", "62", "63", "64", "65", // 西北
    "71", "81", "82", // 台湾, 香港, 澳门
];

/// Why a string is not a well-formed GB/T 2260 code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    /// Not six characters long.
    #[error("a division code has 6 digits, found {found} characters")]
    Length {
        /// Number of characters found.
        found: usize,
    },
    /// A character that is not a digit.
    #[error("character {position} of the division code is `{found}`, not a digit")]
    NonDigit {
        /// 1-based position of the offending character.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// First digit outside 1–8.
    #[error("a division code starts with 1–8, found `{found}`")]
    FirstDigit {
        /// The first digit found.
        found: char,
    },
    /// The two-digit prefix is not a province-level division.
    #[error("`{prefix}` is not a known province-level prefix")]
    UnknownProvince {
        /// The two-digit prefix found.
        prefix: String,
    },
}

impl RegionError {
    /// The platform-wide error kind (always invalid input).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

/// Whether `prefix` (two digits) is a known province-level division.
pub fn is_known_province(prefix: &str) -> bool {
    PROVINCE_PREFIXES.contains(&prefix)
}

/// Checks a six-digit division code and returns its two-digit province code.
pub fn validate_region_code(code: &str) -> Result<String, RegionError> {
    let found = code.chars().count();
    if found != 6 {
        return Err(RegionError::Length { found });
    }
    if let Some((position, found)) = first_non_digit(code) {
        return Err(RegionError::NonDigit { position, found });
    }
    // Six ASCII digits from here on, so byte slicing is safe.
    let first = code.chars().next().unwrap_or('0');
    if !('1'..='8').contains(&first) {
        return Err(RegionError::FirstDigit { found: first });
    }
    let prefix = &code[..2];
    if !is_known_province(prefix) {
        return Err(RegionError::UnknownProvince {
            prefix: prefix.to_owned(),
        });
    }
    Ok(prefix.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_codes_pass() {
        assert_eq!(validate_region_code("110105").unwrap(), "11");
        assert_eq!(validate_region_code("330106").unwrap(), "33");
        assert_eq!(validate_region_code("820000").unwrap(), "82");
        assert_eq!(validate_region_code("460100").unwrap(), "46");
    }

    #[test]
    fn bad_codes_say_why() {
        assert_eq!(
            validate_region_code("11010"),
            Err(RegionError::Length { found: 5 })
        );
        assert_eq!(
            validate_region_code("11a105"),
            Err(RegionError::NonDigit {
                position: 3,
                found: 'a'
            })
        );
        assert_eq!(
            validate_region_code("910105"),
            Err(RegionError::FirstDigit { found: '9' })
        );
        assert_eq!(
            validate_region_code("010105"),
            Err(RegionError::FirstDigit { found: '0' })
        );
        assert_eq!(
            validate_region_code("160105"),
            Err(RegionError::UnknownProvince {
                prefix: "16".into()
            })
        );
        assert_eq!(
            validate_region_code("北京市朝阳区"),
            Err(RegionError::NonDigit {
                position: 1,
                found: '北'
            })
        );
        let msg = validate_region_code("720000").unwrap_err().to_string();
        assert!(msg.contains("72"), "{msg}");
    }

    fn unknown_prefix() -> impl Strategy<Value = String> {
        (10u8..=89)
            .prop_map(|p| format!("{p:02}"))
            .prop_filter("unknown prefix", |p| !is_known_province(p))
    }

    proptest! {
        #[test]
        fn known_prefix_plus_four_digits_passes(
            idx in 0..PROVINCE_PREFIXES.len(),
            rest in "[0-9]{4}",
        ) {
            let code = format!("{}{rest}", PROVINCE_PREFIXES[idx]);
            prop_assert_eq!(validate_region_code(&code).unwrap(), PROVINCE_PREFIXES[idx]);
        }

        #[test]
        fn unknown_prefix_fails(prefix in unknown_prefix(), rest in "[0-9]{4}") {
            let code = format!("{prefix}{rest}");
            prop_assert!(validate_region_code(&code).is_err());
        }

        #[test]
        fn never_panics(s in "\\PC{0,8}") {
            let _ = validate_region_code(&s);
        }
    }
}
