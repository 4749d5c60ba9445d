//! hdos-synth: a synthetic region whose people and hospitals look like a real Chinese region, so
//! that collection, quality control and de-identification can be exercised without real patient
//! data. Everything is drawn from a seeded generator: the same seed gives the same region.
//!
//! So far it generates the institutions (valid unified social credit codes, grades, kinds, beds)
//! and the people (names, sex, birth dates from an age pyramid, valid resident ID numbers, mobile
//! numbers, ethnicity, marital status) of one province's districts.

pub mod institution;
mod names;
pub mod patient;
pub mod region;
mod weighted;

pub use institution::{Institution, InstitutionCounts, institutions};
pub use patient::{Person, PersonGenerator};
pub use region::District;
