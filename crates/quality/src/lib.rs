//! hdos-quality: quality control of the std zone (DESIGN.md §4.1.2 of the paper: 质控). Rules come
//! from the regional standard and from managers; each run evaluates every rule of a dataset in one
//! scan, keeps every failing record in the lake and the figures per run × rule × institution in
//! the metadata store, scores institutions and datasets per dimension, and raises, verifies and
//! reopens rectification tickets.

pub mod codes;
mod collected;
pub mod compile;
pub mod defaults;
mod error;
pub mod evaluate;
pub mod failures;
pub mod hard;
pub mod notify;
pub mod rule;
pub mod rules;
pub mod run;
pub mod schedule;
pub mod score;
pub mod tickets;
mod volume;

pub use error::QualityError;
pub use rule::{Check, CompareOp, Dimension, Rule, Severity};
