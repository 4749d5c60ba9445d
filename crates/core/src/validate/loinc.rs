//! LOINC codes (standards.md §3.9): `^\d{1,7}-\d$` where the last digit is the LOINC "Mod 10"
//! check digit of the number before the hyphen.

use super::first_non_digit;
use crate::ErrorKind;

/// Why a string is not a valid LOINC code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoincError {
    /// Not digits, a hyphen and one check digit.
    #[error("`{code}` is not a LOINC code (expected 1–7 digits, `-`, one check digit)")]
    Format {
        /// The rejected code.
        code: String,
    },
    /// The check digit does not match the number.
    #[error("LOINC check digit is {found}, but {number} gives {expected}")]
    CheckDigit {
        /// The number before the hyphen.
        number: String,
        /// The check digit computed from the number.
        expected: u8,
        /// The check digit written.
        found: u8,
    },
}

impl LoincError {
    /// The platform-wide error kind (always invalid input).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

/// Validates a LOINC code such as `2345-7`.
pub fn validate_loinc(code: &str) -> Result<(), LoincError> {
    let format = || LoincError::Format {
        code: code.to_owned(),
    };
    let (number, check) = code.split_once('-').ok_or_else(format)?;
    let found = match check.as_bytes() {
        [d] if d.is_ascii_digit() => d - b'0',
        _ => return Err(format()),
    };
    let expected = loinc_check_digit(number).map_err(|_| format())?;
    if expected != found {
        return Err(LoincError::CheckDigit {
            number: number.to_owned(),
            expected,
            found,
        });
    }
    Ok(())
}

/// The Mod 10 check digit of a LOINC number (1–7 digits, without hyphen).
///
/// Reverse the digits; the digits at odd positions (1st, 3rd, …) form a number that is doubled;
/// the even-position digits are appended; all digits are summed; check = (10 − sum mod 10) mod 10.
pub fn loinc_check_digit(number: &str) -> Result<u8, LoincError> {
    if number.is_empty() || number.len() > 7 || first_non_digit(number).is_some() {
        return Err(LoincError::Format {
            code: number.to_owned(),
        });
    }
    let reversed: Vec<u32> = number.bytes().rev().map(|b| u32::from(b - b'0')).collect();
    let odd = reversed.iter().step_by(2).fold(0u32, |acc, d| acc * 10 + d);
    let doubled_digit_sum = digit_sum(odd * 2);
    let even_sum: u32 = reversed.iter().skip(1).step_by(2).sum();
    let sum = doubled_digit_sum + even_sum;
    // The result is below 10, so it fits a u8.
    Ok(((10 - sum % 10) % 10) as u8)
}

/// The sum of the decimal digits of `n`.
fn digit_sum(mut n: u32) -> u32 {
    let mut sum = 0;
    while n > 0 {
        sum += n % 10;
        n /= 10;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_codes_are_valid() {
        for code in ["2345-7", "718-7", "2339-0", "1742-6", "1920-8", "6768-6"] {
            assert_eq!(validate_loinc(code), Ok(()), "{code}");
        }
    }

    #[test]
    fn wrong_check_digit_is_named() {
        assert_eq!(
            validate_loinc("2345-8"),
            Err(LoincError::CheckDigit {
                number: "2345".into(),
                expected: 7,
                found: 8
            })
        );
        let msg = validate_loinc("2345-8").unwrap_err().to_string();
        assert!(msg.contains('7') && msg.contains('8'), "{msg}");
    }

    #[test]
    fn malformed_codes_are_rejected() {
        for code in [
            "",
            "2345",
            "2345-",
            "-7",
            "2345-77",
            "12345678-0",
            "23a5-7",
            "2345-X",
            " 2345-7",
            "2345_7",
            "2-3-4",
        ] {
            assert!(
                matches!(validate_loinc(code), Err(LoincError::Format { .. })),
                "{code}"
            );
        }
        assert_eq!(
            validate_loinc("x").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }

    proptest! {
        #[test]
        fn generated_codes_pass_and_changed_check_fails(number in "[0-9]{1,7}", delta in 1u8..10) {
            let check = loinc_check_digit(&number).unwrap();
            prop_assert_eq!(validate_loinc(&format!("{number}-{check}")), Ok(()));
            let wrong = (check + delta) % 10;
            let is_check_digit_error = matches!(
                validate_loinc(&format!("{number}-{wrong}")),
                Err(LoincError::CheckDigit { .. })
            );
            prop_assert!(is_check_digit_error);
        }

        #[test]
        fn never_panics(s in "\\PC{0,12}") {
            let _ = validate_loinc(&s);
        }
    }
}
