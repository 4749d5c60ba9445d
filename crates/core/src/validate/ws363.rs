//! WS 363 data-element identifiers `DE` + `AA.BB.CCC.DD` (standards.md §3.1), e.g. `DE02.01.039.00`.
//! Vendor suffixes such as `DE02.01.039.00.178` are non-standard and rejected.

use crate::ErrorKind;

/// A string that is not a WS 363 data-element identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{id}` is not a WS 363 data-element id (expected DE + AA.BB.CCC.DD, e.g. DE02.01.039.00)")]
pub struct Ws363Error {
    /// The rejected identifier.
    pub id: String,
}

impl Ws363Error {
    /// The platform-wide error kind (always invalid input).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

/// Checks `^DE\d{2}\.\d{2}\.\d{3}\.\d{2}$`.
pub fn validate_de_id(id: &str) -> Result<(), Ws363Error> {
    let well_formed = id.strip_prefix("DE").is_some_and(|rest| {
        let groups: Vec<&str> = rest.split('.').collect();
        groups.len() == 4
            && groups
                .iter()
                .zip([2, 2, 3, 2])
                .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_digit()))
    });
    if well_formed {
        Ok(())
    } else {
        Err(Ws363Error { id: id.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_ids_pass() {
        for id in [
            "DE02.01.039.00",
            "DE02.01.005.01",
            "DE05.01.024.00",
            "DE01.00.014.00",
            "DE08.50.022.00",
        ] {
            assert_eq!(validate_de_id(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn malformed_ids_fail() {
        for id in [
            "",
            "DE02.01.039",
            "DE02.01.039.00.178",
            "de02.01.039.00",
            "DE2.01.039.00",
            "DE02.01.39.00",
            "DE02-01-039-00",
            "DE02.01.039.0a",
            "CV02.01.101",
            "DE02.01.039.00 ",
            "DE０2.01.039.00",
        ] {
            let err = validate_de_id(id).unwrap_err();
            assert_eq!(err.id, id);
            assert!(err.to_string().contains("DE + AA.BB.CCC.DD"));
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
    }

    proptest! {
        #[test]
        fn generated_ids_pass(id in "DE[0-9]{2}\\.[0-9]{2}\\.[0-9]{3}\\.[0-9]{2}") {
            prop_assert_eq!(validate_de_id(&id), Ok(()));
        }

        #[test]
        fn dropping_a_character_fails(
            id in "DE[0-9]{2}\\.[0-9]{2}\\.[0-9]{3}\\.[0-9]{2}",
            at in 0usize..14,
        ) {
            let mut shorter = id.clone();
            shorter.remove(at);
            prop_assert!(validate_de_id(&shorter).is_err());
        }

        #[test]
        fn never_panics(s in "\\PC{0,16}") {
            let _ = validate_de_id(&s);
        }
    }
}
