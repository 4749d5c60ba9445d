//! ICD-10 diagnosis codes (standards.md §3.8): the WHO form `^[A-Z]\d{2}(\.\d{1,2})?$` and the
//! national clinical 2.0 form `^[A-Z]\d{2}\.[0-9x]\d{2}(x\d{3})?$` (e.g. `I10.x00x002`).

use crate::ErrorKind;
use std::fmt;

/// Which of the two accepted spellings a code uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icd10Form {
    /// WHO ICD-10: `A00`, `A00.0`, `A00.01`.
    Who,
    /// 国家临床版 2.0: `A00.000`, `A00.000x000`.
    NationalClinical,
}

/// A syntactically valid ICD-10 code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Icd10Code {
    code: String,
    form: Icd10Form,
}

impl Icd10Code {
    /// The code as written.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The three-character category, e.g. `B20` for `B20.x00` (what special-disease ranges match).
    pub fn category(&self) -> &str {
        // The code was validated to start with a letter and two ASCII digits.
        &self.code[..3]
    }

    /// Which spelling the code uses.
    pub fn form(&self) -> Icd10Form {
        self.form
    }
}

impl fmt::Display for Icd10Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

/// A string that is neither ICD-10 form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{code}` is not an ICD-10 code (expected WHO form A00 / A00.0 / A00.01 \
     or national clinical form A00.000 / A00.000x000)"
)]
pub struct Icd10Error {
    /// The rejected code.
    pub code: String,
}

impl Icd10Error {
    /// The platform-wide error kind (always invalid input).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

/// Parses an ICD-10 code in either form; case and whitespace are significant.
pub fn parse_icd10(code: &str) -> Result<Icd10Code, Icd10Error> {
    let form = classify(code.as_bytes()).ok_or_else(|| Icd10Error {
        code: code.to_owned(),
    })?;
    Ok(Icd10Code {
        code: code.to_owned(),
        form,
    })
}

/// The three-character category of anything that starts like an ICD-10 code (letter, two digits),
/// upper-casing the letter; used where a malformed subcategory must not hide the category.
pub fn category_prefix(code: &str) -> Option<String> {
    match code.trim().as_bytes() {
        [l, a, b, ..] if l.is_ascii_alphabetic() && a.is_ascii_digit() && b.is_ascii_digit() => {
            Some(format!(
                "{}{}{}",
                l.to_ascii_uppercase() as char,
                *a as char,
                *b as char
            ))
        }
        _ => None,
    }
}

/// The form matched by the bytes, if any.
fn classify(b: &[u8]) -> Option<Icd10Form> {
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let [letter, d1, d2, rest @ ..] = b else {
        return None;
    };
    if !letter.is_ascii_uppercase() || !digits(&[*d1, *d2]) {
        return None;
    }
    match rest {
        [] => Some(Icd10Form::Who),
        [b'.', sub @ ..] if (1..=2).contains(&sub.len()) && digits(sub) => Some(Icd10Form::Who),
        [b'.', first, ext1, ext2, tail @ ..]
            if (first.is_ascii_digit() || *first == b'x') && digits(&[*ext1, *ext2]) =>
        {
            match tail {
                [] => Some(Icd10Form::NationalClinical),
                [b'x', more @ ..] if more.len() == 3 && digits(more) => {
                    Some(Icd10Form::NationalClinical)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn who_codes() {
        for code in ["A00", "A00.0", "E11.9", "S72.00", "Z21", "U07.1"] {
            let c = parse_icd10(code).unwrap();
            assert_eq!(c.form(), Icd10Form::Who, "{code}");
            assert_eq!(c.category(), &code[..3]);
            assert_eq!(c.code(), code);
        }
    }

    #[test]
    fn national_clinical_codes() {
        for code in [
            "E11.900",
            "I21.401",
            "I10.x00",
            "G20.x03",
            "I10.x00x002",
            "E14.900x001",
        ] {
            let c = parse_icd10(code).unwrap();
            assert_eq!(c.form(), Icd10Form::NationalClinical, "{code}");
            assert_eq!(c.category(), &code[..3]);
        }
    }

    #[test]
    fn malformed_codes_are_rejected() {
        for code in [
            "",
            "A0",
            "a00",
            "A00.",
            "A00.1234",
            "A0O",
            "A00-1",
            "I10.X00",
            "I10.x00x00",
            "I10.x00y002",
            "I10.x00x0020",
            "A17.0†",
            " A00",
            "AA0",
            "A00.x",
        ] {
            let err = parse_icd10(code).unwrap_err();
            assert_eq!(err.code, code);
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn category_prefix_is_lenient() {
        assert_eq!(category_prefix("b20.X00").as_deref(), Some("B20"));
        assert_eq!(category_prefix(" F32.900 ").as_deref(), Some("F32"));
        assert_eq!(category_prefix("A1"), None);
        assert_eq!(category_prefix("肺炎"), None);
    }

    proptest! {
        #[test]
        fn generated_who_codes_parse(code in "[A-Z][0-9]{2}(\\.[0-9]{1,2})?") {
            let c = parse_icd10(&code).unwrap();
            prop_assert_eq!(c.form(), Icd10Form::Who);
            prop_assert_eq!(c.category(), &code[..3]);
        }

        #[test]
        fn generated_clinical_codes_parse(code in "[A-Z][0-9]{2}\\.[0-9x][0-9]{2}(x[0-9]{3})?") {
            let c = parse_icd10(&code).unwrap();
            prop_assert_eq!(c.form(), Icd10Form::NationalClinical);
            prop_assert_eq!(c.category(), &code[..3]);
        }

        #[test]
        fn lowercase_letter_fails(code in "[a-z][0-9]{2}(\\.[0-9]{1,2})?") {
            prop_assert!(parse_icd10(&code).is_err());
        }

        #[test]
        fn never_panics(s in "\\PC{0,12}") {
            if let Ok(c) = parse_icd10(&s) {
                prop_assert_eq!(c.category().len(), 3);
            }
            let _ = category_prefix(&s);
        }
    }
}
