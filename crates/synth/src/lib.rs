//! hdos-synth: a synthetic region whose people and hospitals look like a real Chinese region, so
//! that collection, quality control and de-identification can be exercised without real patient
//! data. Everything is drawn from a seeded generator: the same seed gives the same region, byte
//! for byte.
//!
//! The region has institutions with valid unified social credit codes, people with valid
//! resident IDs, and their visits, stays, diagnoses, lab results, prescriptions, settlements and
//! infectious-disease reports. Each institution's HIS database follows one of several vendor
//! schemas; defects can be injected at chosen rates and are listed in a ground-truth manifest.

pub mod clinical;
pub mod defect;
mod draw;
mod error;
pub mod generate;
pub mod his;
pub mod history;
pub mod institution;
pub mod message;
mod names;
pub mod patient;
pub mod record;
pub mod region;
pub mod stream;
mod timefmt;
pub mod vendor;
mod weighted;

pub use defect::{DefectKind, DefectProfile, ManifestEntry};
pub use error::SynthError;
pub use generate::{Options, Progress, RegionManifest, generate};
pub use institution::{Institution, InstitutionCounts, institutions};
pub use patient::{Person, PersonGenerator};
pub use record::{Dataset, Row, Value};
pub use region::District;
pub use vendor::Vendor;
