//! Validators for the national code systems used by the regional standard (standards.md §3, §7).
//! Each matcher is written by hand (no regex engine) and returns a typed value or an error that
//! says what is wrong.

pub mod credit_code;
pub mod icd10;
pub mod id_card;
pub mod loinc;
pub mod mobile;
pub mod region;
pub mod sex;
pub mod ws363;

pub use credit_code::{
    CreditCodeError, credit_code_check_char, organisation_code_check_char, validate_credit_code,
};
pub use icd10::{Icd10Code, Icd10Error, Icd10Form, parse_icd10};
pub use id_card::{IdError, ResidentId, check_digit, parse_resident_id, upgrade_legacy_id};
pub use loinc::{LoincError, loinc_check_digit, validate_loinc};
pub use mobile::{MobileError, normalize_mobile};
pub use region::{RegionError, validate_region_code};
pub use sex::{Sex, SexError};
pub use ws363::{Ws363Error, validate_de_id};

/// The first character of `s` that is not an ASCII digit, as (1-based position, char).
fn first_non_digit(s: &str) -> Option<(usize, char)> {
    s.chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_digit())
        .map(|(i, c)| (i + 1, c))
}
