//! GB 32100 unified social credit code (统一社会信用代码): 18 characters — registration
//! authority, organisation category, GB/T 2260 area code, GB 11714 organisation code (with its
//! own MOD 11 check character) and a MOD 31 check character.

use crate::ErrorKind;

/// The 31 characters a credit code may use (no I, O, S, V, Z).
const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditCodeError {
    #[error("a unified social credit code has 18 characters, found {0}")]
    Length(usize),
    #[error("character `{found}` at position {position} is not allowed")]
    BadChar { position: usize, found: char },
    #[error("the check character should be `{expected}`, found `{found}`")]
    CheckChar { expected: char, found: char },
}

impl CreditCodeError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

fn value(position: usize, c: char) -> Result<u32, CreditCodeError> {
    CHARSET
        .iter()
        .position(|&b| char::from(b) == c)
        .map(|v| v as u32)
        .ok_or(CreditCodeError::BadChar { position, found: c })
}

/// The MOD 31 check character of the first 17 characters.
pub fn credit_code_check_char(first17: &str) -> Result<char, CreditCodeError> {
    let chars: Vec<char> = first17.chars().collect();
    if chars.len() != 17 {
        return Err(CreditCodeError::Length(chars.len() + 1));
    }
    let mut sum = 0;
    for (i, (c, w)) in chars.iter().zip(WEIGHTS).enumerate() {
        sum += value(i + 1, *c)? * w;
    }
    let r = (31 - sum % 31) % 31;
    Ok(char::from(CHARSET[r as usize]))
}

/// Checks length, alphabet and the check character.
pub fn validate_credit_code(code: &str) -> Result<(), CreditCodeError> {
    let chars: Vec<char> = code.chars().collect();
    if chars.len() != 18 {
        return Err(CreditCodeError::Length(chars.len()));
    }
    let first17: String = chars[..17].iter().collect();
    let expected = credit_code_check_char(&first17)?;
    value(18, chars[17])?;
    if expected != chars[17] {
        return Err(CreditCodeError::CheckChar {
            expected,
            found: chars[17],
        });
    }
    Ok(())
}

/// The GB 11714 check character of an 8-character organisation code body.
pub fn organisation_code_check_char(body8: &str) -> Option<char> {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let mut sum = 0;
    let mut n = 0;
    for (c, w) in body8.chars().zip(W) {
        sum += c.to_digit(36)? * w;
        n += 1;
    }
    if n != 8 {
        return None;
    }
    match 11 - sum % 11 {
        10 => Some('X'),
        11 => Some('0'),
        d => char::from_digit(d, 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_codes_validate() {
        for code in [
            "91350100M000100Y43",
            "91440300708461136T",
            "9144030071526726XG",
        ] {
            assert_eq!(validate_credit_code(code), Ok(()), "{code}");
        }
        assert_eq!(organisation_code_check_char("M000100Y"), Some('4'));
    }

    #[test]
    fn bad_codes_say_what_is_wrong() {
        assert_eq!(
            validate_credit_code("9135"),
            Err(CreditCodeError::Length(4))
        );
        assert!(matches!(
            validate_credit_code("91350100M000100Y44"),
            Err(CreditCodeError::CheckChar { expected: '3', .. })
        ));
        assert!(matches!(
            validate_credit_code("91350100O000100Y43"),
            Err(CreditCodeError::BadChar {
                position: 9,
                found: 'O'
            })
        ));
    }

    proptest! {
        #[test]
        fn a_computed_check_char_validates_and_a_changed_one_does_not(
            body in proptest::collection::vec(0usize..31, 17),
            delta in 1usize..31,
        ) {
            let first17: String = body.iter().map(|&i| char::from(CHARSET[i])).collect();
            let check = credit_code_check_char(&first17).unwrap();
            let good = format!("{first17}{check}");
            prop_assert!(validate_credit_code(&good).is_ok());
            let pos = CHARSET.iter().position(|&b| char::from(b) == check).unwrap();
            let wrong = char::from(CHARSET[(pos + delta) % 31]);
            let bad = format!("{first17}{wrong}");
            prop_assert!(validate_credit_code(&bad).is_err());
        }
    }
}
