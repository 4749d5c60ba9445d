//! GB 11643-1999 resident ID numbers (公民身份号码, standards.md §3.5): 6-digit area code,
//! YYYYMMDD birth date, 3-digit sequence (17th digit odd = male), ISO 7064 MOD 11-2 check
//! character. The 15-digit legacy form (YYMMDD, no check character) is recognised and upgradable.
//!
//! Whether the birth date lies in the future is a quality-control rule, not a format rule: the
//! parsed date is returned so the caller can compare it with its own clock.

use super::{first_non_digit, region, sex::Sex};
use crate::ErrorKind;
use chrono::NaiveDate;

/// MOD 11-2 weights for positions 1..=17 (2^(18−i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// What a valid resident ID tells about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentId {
    /// The six-digit GB/T 2260 area code of registration at issuance.
    pub region_code: String,
    /// The birth date encoded in the number.
    pub birth_date: NaiveDate,
    /// Sex from the parity of the sequence's last digit.
    pub sex: Sex,
    /// Whether the input was the 15-digit legacy form.
    pub legacy: bool,
}

/// Why a string is not a valid resident ID number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Wrong number of characters.
    #[error("expected {expected} characters, found {found}")]
    Length {
        /// Characters expected (18 for an ID, 15 for a legacy ID, 17 for a check-digit base).
        expected: usize,
        /// Characters found.
        found: usize,
    },
    /// A character that is not allowed at its position.
    #[error("character {position} is `{found}`, expected a digit{}", if *.position == 18 { " or X" } else { "" })]
    NonDigit {
        /// 1-based position of the offending character.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// The area code is not a well-formed GB/T 2260 code.
    #[error("area code `{code}` is not well-formed: {reason}")]
    BadRegion {
        /// The six-digit area code found.
        code: String,
        /// Why the area code was rejected.
        reason: region::RegionError,
    },
    /// The birth date digits do not form a real date.
    #[error("birth date `{digits}` is not a real date (YYYYMMDD, year 1800–2099)")]
    BadBirthDate {
        /// The birth-date digits as written (YYYYMMDD, or YYMMDD in a legacy ID).
        digits: String,
    },
    /// The check character does not match digits 1–17.
    #[error("check character is `{found}`, but digits 1–17 give `{expected}`")]
    CheckDigit {
        /// The check character computed from digits 1–17.
        expected: char,
        /// The check character written.
        found: char,
    },
}

impl IdError {
    /// The platform-wide error kind (always invalid input).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

/// Parses and validates an 18-digit resident ID (or a 15-digit legacy one); `x` is accepted for `X`.
pub fn parse_resident_id(id: &str) -> Result<ResidentId, IdError> {
    match id.chars().count() {
        18 => parse_18(id),
        15 => parse_15(id),
        found => Err(IdError::Length {
            expected: 18,
            found,
        }),
    }
}

/// The MOD 11-2 check character (`0`–`9` or `X`) for the first 17 digits of an ID.
pub fn check_digit(first17: &str) -> Result<char, IdError> {
    let found = first17.chars().count();
    if found != 17 {
        return Err(IdError::Length {
            expected: 17,
            found,
        });
    }
    if let Some((position, found)) = first_non_digit(first17) {
        return Err(IdError::NonDigit { position, found });
    }
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Ok(match (12 - sum % 11) % 11 {
        10 => 'X',
        // `d` is below 10 here, so the conversion always yields a digit.
        d => char::from_digit(d, 10).unwrap_or('0'),
    })
}

/// The 18-digit form of an ID: a legacy number gains `19` and a check character, a valid 18-digit
/// number is returned with an upper-case `X`.
pub fn upgrade_legacy_id(id: &str) -> Result<String, IdError> {
    let parsed = parse_resident_id(id)?;
    if !parsed.legacy {
        return Ok(id.to_ascii_uppercase());
    }
    // A valid legacy ID is 15 ASCII digits.
    let first17 = format!("{}19{}", &id[..6], &id[6..]);
    let check = check_digit(&first17)?;
    Ok(format!("{first17}{check}"))
}

/// Validates the 18-digit form.
fn parse_18(id: &str) -> Result<ResidentId, IdError> {
    if let Some((position, found)) = id
        .chars()
        .enumerate()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 17 && matches!(c, 'X' | 'x'))))
        .map(|(i, c)| (i + 1, c))
    {
        return Err(IdError::NonDigit { position, found });
    }
    // All 18 characters are ASCII from here on, so byte slicing is safe.
    let region_code = checked_region(&id[..6])?;
    let birth_date = date_from(&id[6..14], &id[6..14])?;
    let expected = check_digit(&id[..17])?;
    let found = id[17..].chars().next().unwrap_or(' ').to_ascii_uppercase();
    if found != expected {
        return Err(IdError::CheckDigit { expected, found });
    }
    Ok(ResidentId {
        region_code,
        birth_date,
        sex: Sex::from_id_digit(id.as_bytes()[16] - b'0'),
        legacy: false,
    })
}

/// Validates the 15-digit legacy form (birth year 19YY, no check character).
fn parse_15(id: &str) -> Result<ResidentId, IdError> {
    if let Some((position, found)) = first_non_digit(id) {
        return Err(IdError::NonDigit { position, found });
    }
    let region_code = checked_region(&id[..6])?;
    let birth_date = date_from(&format!("19{}", &id[6..12]), &id[6..12])?;
    Ok(ResidentId {
        region_code,
        birth_date,
        sex: Sex::from_id_digit(id.as_bytes()[14] - b'0'),
        legacy: true,
    })
}

/// The area code if it is well-formed.
fn checked_region(code: &str) -> Result<String, IdError> {
    region::validate_region_code(code)
        .map(|_| code.to_owned())
        .map_err(|reason| IdError::BadRegion {
            code: code.to_owned(),
            reason,
        })
}

/// A real date from eight ASCII digits `yyyymmdd`; `written` is what the error reports.
fn date_from(yyyymmdd: &str, written: &str) -> Result<NaiveDate, IdError> {
    let bad = || IdError::BadBirthDate {
        digits: written.to_owned(),
    };
    let num = |range: std::ops::Range<usize>| -> Result<u32, IdError> {
        yyyymmdd
            .get(range)
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    if !(1800..=2099).contains(&year) {
        return Err(bad());
    }
    i32::try_from(year)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, month, day))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn standard_example_is_a_female_born_1949_12_31() {
        let id = parse_resident_id("11010519491231002X").unwrap();
        assert_eq!(
            id,
            ResidentId {
                region_code: "110105".into(),
                birth_date: date(1949, 12, 31),
                sex: Sex::Female,
                legacy: false,
            }
        );
        assert_eq!(parse_resident_id("11010519491231002x").unwrap(), id);
        assert_eq!(check_digit("11010519491231002").unwrap(), 'X');
    }

    #[test]
    fn second_vector_is_a_male_born_1880() {
        let id = parse_resident_id("440524188001010014").unwrap();
        assert_eq!(id.region_code, "440524");
        assert_eq!(id.birth_date, date(1880, 1, 1));
        assert_eq!(id.sex, Sex::Male);
        assert!(!id.legacy);
    }

    #[test]
    fn each_wrong_part_is_named() {
        assert_eq!(
            parse_resident_id("11010519491231002"),
            Err(IdError::Length {
                expected: 18,
                found: 17
            })
        );
        assert_eq!(
            parse_resident_id("1101051949123100２X"),
            Err(IdError::NonDigit {
                position: 17,
                found: '２'
            })
        );
        assert_eq!(
            parse_resident_id("11010519491231002Y"),
            Err(IdError::NonDigit {
                position: 18,
                found: 'Y'
            })
        );
        assert_eq!(
            parse_resident_id("X10105194912310021"),
            Err(IdError::NonDigit {
                position: 1,
                found: 'X'
            })
        );
        assert_eq!(
            parse_resident_id("110105194912310021"),
            Err(IdError::CheckDigit {
                expected: 'X',
                found: '1'
            })
        );
        assert_eq!(
            parse_resident_id("110105194902300021"),
            Err(IdError::BadBirthDate {
                digits: "19490230".into()
            })
        );
        assert_eq!(
            parse_resident_id("110105170001010021"),
            Err(IdError::BadBirthDate {
                digits: "17000101".into()
            })
        );
        assert!(matches!(
            parse_resident_id("910105194912310021"),
            Err(IdError::BadRegion { code, reason: region::RegionError::FirstDigit { found: '9' } }) if code == "910105"
        ));
        let msg = parse_resident_id("110105194912310021")
            .unwrap_err()
            .to_string();
        assert!(msg.contains('X') && msg.contains('1'), "{msg}");
        assert_eq!(
            parse_resident_id("").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }

    #[test]
    fn leap_days_follow_the_calendar() {
        let base = "11010520000229";
        let first17 = format!("{base}002");
        let id = format!("{first17}{}", check_digit(&first17).unwrap());
        assert_eq!(
            parse_resident_id(&id).unwrap().birth_date,
            date(2000, 2, 29)
        );
        let first17 = "11010519000229002";
        let id = format!("{first17}{}", check_digit(first17).unwrap());
        assert!(matches!(
            parse_resident_id(&id),
            Err(IdError::BadBirthDate { .. })
        ));
    }

    #[test]
    fn legacy_ids_are_recognised_and_upgraded() {
        let id = parse_resident_id("110105491231002").unwrap();
        assert!(id.legacy);
        assert_eq!(id.birth_date, date(1949, 12, 31));
        assert_eq!(id.sex, Sex::Female);
        assert_eq!(
            upgrade_legacy_id("110105491231002").unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            upgrade_legacy_id("11010519491231002x").unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            parse_resident_id("110105491331002"),
            Err(IdError::BadBirthDate {
                digits: "491331".into()
            })
        );
        assert!(upgrade_legacy_id("11010549123100").is_err());
    }

    #[test]
    fn check_digit_needs_seventeen_digits() {
        assert_eq!(
            check_digit("1101051949123100"),
            Err(IdError::Length {
                expected: 17,
                found: 16
            })
        );
        assert_eq!(
            check_digit("1101051949123100a"),
            Err(IdError::NonDigit {
                position: 17,
                found: 'a'
            })
        );
    }

    /// A well-formed first 17 digits with a real birth date, plus the expected facts.
    fn first17() -> impl Strategy<Value = (String, NaiveDate, Sex)> {
        (
            0..region::PROVINCE_PREFIXES.len(),
            "[0-9]{4}",
            0i64..(200 * 365),
            "[0-9]{2}",
            0u8..=9,
        )
            .prop_map(|(p, rest, days, seq, last)| {
                let birth = date(1900, 1, 1) + chrono::Duration::days(days);
                let s = format!(
                    "{}{rest}{}{seq}{last}",
                    region::PROVINCE_PREFIXES[p],
                    birth.format("%Y%m%d")
                );
                (s, birth, Sex::from_id_digit(last))
            })
    }

    proptest! {
        #[test]
        fn computed_check_digit_validates((f17, birth, sex) in first17()) {
            let id = format!("{f17}{}", check_digit(&f17).unwrap());
            let parsed = parse_resident_id(&id).unwrap();
            prop_assert_eq!(parsed.birth_date, birth);
            prop_assert_eq!(parsed.sex, sex);
            prop_assert_eq!(&parsed.region_code, &f17[..6]);
            prop_assert!(!parsed.legacy);
        }

        #[test]
        fn changed_check_digit_fails((f17, _, _) in first17(), other in 0usize..11) {
            let right = check_digit(&f17).unwrap();
            let wrong = "0123456789X".chars().nth(other).unwrap();
            prop_assume!(wrong != right);
            let id = format!("{f17}{wrong}");
            prop_assert_eq!(
                parse_resident_id(&id),
                Err(IdError::CheckDigit { expected: right, found: wrong })
            );
        }

        #[test]
        fn upgraded_legacy_id_keeps_its_facts((f17, birth, sex) in first17()) {
            prop_assume!(birth.format("%Y").to_string().starts_with("19"));
            let legacy = format!("{}{}", &f17[..6], &f17[8..]);
            let old = parse_resident_id(&legacy).unwrap();
            let new = parse_resident_id(&upgrade_legacy_id(&legacy).unwrap()).unwrap();
            prop_assert!(old.legacy && !new.legacy);
            prop_assert_eq!(old.birth_date, birth);
            prop_assert_eq!(new.birth_date, birth);
            prop_assert_eq!(old.sex, sex);
            prop_assert_eq!(new.sex, sex);
        }

        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = parse_resident_id(&s);
            let _ = upgrade_legacy_id(&s);
            let _ = check_digit(&s);
        }
    }
}
