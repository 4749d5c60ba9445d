//! hdos-ingest: collection from the hospitals' systems into the lake. Sources are read as they
//! are, suggested mappings turn their tables into the regional standard's datasets, and every
//! chunk lands in the raw zone, the std zone and quarantine exactly once.

pub mod batch;
pub mod cdc;
pub mod channel;
pub mod drift;
mod error;
pub mod fhir;
pub mod folder;
pub mod hl7;
pub mod inbox;
pub mod journal;
pub mod land;
pub mod mapping;
pub mod mllp;
pub mod monitor;
pub mod preview;
pub mod reconcile;
pub mod source;
pub mod suggest;
pub mod worker;

pub use error::IngestError;
