//! hdos-core: the domain vocabulary shared by every hdos crate — typed ids, roles, the GB/T 39725
//! classification, the regional data standard and the validators of the national code systems.
//! Pure computation: nothing here performs I/O.

pub mod classification;
pub mod error;
pub mod ids;
pub mod mask;
pub mod role;
pub mod standard;
pub mod validate;

pub use error::{CoreError, ErrorKind};
pub use ids::{InstitutionId, TokenId, UserId};
pub use role::Role;
