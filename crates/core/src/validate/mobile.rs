//! Mainland China mobile numbers (standards.md §3.7): after stripping spaces and hyphens and an
//! optional `+86` / `0086` / `86` prefix, 11 digits matching `^1[3-9]\d{9}$`.

use super::first_non_digit;
use crate::ErrorKind;

/// Why a string is not a mainland mobile number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MobileError {
    /// Nothing left after removing spaces and hyphens.
    #[error("the phone number is empty")]
    Empty,
    /// A character that is not a digit (after the optional country prefix).
    #[error("character {position} of the number is `{found}`, not a digit")]
    NonDigit {
        /// 1-based position in the number without separators and country prefix.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// Not 11 digits.
    #[error("a mobile number has 11 digits, found {found}")]
    Length {
        /// Digits found (without country prefix).
        found: usize,
    },
    /// Does not start with 13–19.
    #[error("a mobile number starts with 13–19, found `{prefix}`")]
    Prefix {
        /// The first two digits found.
        prefix: String,
    },
}

impl MobileError {
    /// The platform-wide error kind (always invalid input).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

/// Validates a mobile number and returns its normalised 11 digits (no prefix, no separators).
pub fn normalize_mobile(input: &str) -> Result<String, MobileError> {
    let cleaned: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if cleaned.is_empty() {
        return Err(MobileError::Empty);
    }
    let number = strip_country_prefix(&cleaned);
    if let Some((position, found)) = first_non_digit(number) {
        return Err(MobileError::NonDigit { position, found });
    }
    if number.len() != 11 {
        return Err(MobileError::Length {
            found: number.len(),
        });
    }
    // 11 ASCII digits from here on.
    let prefix = &number[..2];
    if !matches!(prefix.as_bytes(), [b'1', b'3'..=b'9']) {
        return Err(MobileError::Prefix {
            prefix: prefix.to_owned(),
        });
    }
    Ok(number.to_owned())
}

/// Whether `input` is a mainland mobile number in any accepted spelling.
pub fn is_mobile(input: &str) -> bool {
    normalize_mobile(input).is_ok()
}

/// Removes `+86`, `0086`, or `86` when 11 characters follow it.
fn strip_country_prefix(s: &str) -> &str {
    if let Some(rest) = s.strip_prefix("+86").or_else(|| s.strip_prefix("0086")) {
        return rest;
    }
    match s.strip_prefix("86") {
        Some(rest) if rest.chars().count() == 11 => rest,
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepted_spellings_normalise() {
        for input in [
            "13812345678",
            "138 1234 5678",
            "138-1234-5678",
            "+86 138 1234 5678",
            "+8613812345678",
            "008613812345678",
            "8613812345678",
            " 138\t1234 5678 ",
        ] {
            assert_eq!(normalize_mobile(input).unwrap(), "13812345678", "{input}");
        }
        assert_eq!(normalize_mobile("19912345678").unwrap(), "19912345678");
    }

    #[test]
    fn rejections_say_why() {
        assert_eq!(normalize_mobile(" - "), Err(MobileError::Empty));
        assert_eq!(
            normalize_mobile("12812345678"),
            Err(MobileError::Prefix {
                prefix: "12".into()
            })
        );
        assert_eq!(
            normalize_mobile("1381234567"),
            Err(MobileError::Length { found: 10 })
        );
        assert_eq!(
            normalize_mobile("138123456789"),
            Err(MobileError::Length { found: 12 })
        );
        assert_eq!(
            normalize_mobile("010-12345678"),
            Err(MobileError::Prefix {
                prefix: "01".into()
            })
        );
        assert_eq!(
            normalize_mobile("+1 138 1234 5678"),
            Err(MobileError::NonDigit {
                position: 1,
                found: '+'
            })
        );
        assert_eq!(
            normalize_mobile("138(1234)5678"),
            Err(MobileError::NonDigit {
                position: 4,
                found: '('
            })
        );
        assert!(!is_mobile("86 12812345678"));
        assert!(is_mobile("86 138 1234 5678"));
    }

    proptest! {
        #[test]
        fn normalisation_is_idempotent(s in "[+0-9 -]{0,20}") {
            if let Ok(once) = normalize_mobile(&s) {
                prop_assert_eq!(normalize_mobile(&once).unwrap(), once);
            }
        }

        #[test]
        fn any_spelling_of_a_valid_number_normalises_to_it(
            number in "1[3-9][0-9]{9}",
            prefix in prop::sample::select(vec!["", "+86", "0086", "86", "+86 "]),
            sep in prop::sample::select(vec!["", " ", "-"]),
        ) {
            let spelled = format!("{prefix}{}{sep}{}{sep}{}", &number[..3], &number[3..7], &number[7..]);
            prop_assert_eq!(normalize_mobile(&spelled).unwrap(), number);
        }

        #[test]
        fn second_digit_below_three_fails(rest in "[0-2][0-9]{9}") {
            let number = format!("1{rest}");
            prop_assert!(normalize_mobile(&number).is_err());
        }
    }
}
