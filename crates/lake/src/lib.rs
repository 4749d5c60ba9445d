//! hdos-lake: all row data lives in Delta tables. This crate creates them, appends and MERGEs
//! record batches, lists versions, and reads them through DataFusion. Tables live under one root:
//! a local directory by default, or an object-store URL by configuration.

mod error;
pub mod functions;
mod lake;
mod predicate;
pub mod standard;
mod table_name;

pub use deltalake::arrow;
pub use deltalake::datafusion;
pub use deltalake::parquet;
pub use error::LakeError;
pub use lake::{AppTransaction, Lake, MergeStats, TableVersion};
pub use predicate::{PredicateError, check_predicate};
pub use table_name::TableName;
