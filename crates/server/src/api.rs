//! JSON endpoints under `/api/v1`, each documented for the OpenAPI document.

pub mod audit;
pub mod auth;
pub mod fhir;
pub mod health;
pub mod institutions;
pub mod openapi;
pub mod tokens;
pub mod users;

use crate::error::ApiError;
use serde::{Deserialize, Serialize};

/// Pagination parameters of list endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// Rows per page (1–500, default 50).
    pub limit: Option<i64>,
    /// Rows to skip (default 0).
    pub offset: Option<i64>,
}

impl PageQuery {
    pub fn page(&self) -> hdos_store::Page {
        hdos_store::Page::new(self.limit.unwrap_or(50), self.offset.unwrap_or(0))
    }
}

/// One page of a listing with the total count.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

pub type ApiResult<T> = Result<axum::Json<T>, ApiError>;
