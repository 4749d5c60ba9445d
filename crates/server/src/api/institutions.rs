use crate::{
    actions::{self, CreateInstitution},
    api::{ApiResult, PageQuery, Paged},
    auth::Principal,
    error::ErrorBody,
    state::AppState,
};
use axum::{
    Json,
    extract::{Path, Query, State},
};
use hdos_core::InstitutionId;
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstitutionView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub grade: String,
    pub kind: String,
    pub region_code: String,
}

impl From<hdos_store::Institution> for InstitutionView {
    fn from(i: hdos_store::Institution) -> Self {
        Self {
            id: i.id.0,
            code: i.code,
            name: i.name,
            grade: i.grade,
            kind: i.kind,
            region_code: i.region_code,
        }
    }
}

/// List the region's institutions.
#[utoipa::path(get, path = "/api/v1/institutions", tag = "admin", params(PageQuery),
    responses((status = 200, body = Paged<InstitutionView>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Paged<InstitutionView>> {
    let page = q.page();
    let items = app.store.list_institutions(page).await?;
    Ok(Json(Paged {
        items: items.into_iter().map(Into::into).collect(),
        total: app.store.count_institutions().await?,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// One institution; a provider may read only its own.
#[utoipa::path(get, path = "/api/v1/institutions/{id}", tag = "admin",
    params(("id" = i64, Path)),
    responses((status = 200, body = InstitutionView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn get(State(app): State<AppState>, Path(id): Path<i64>) -> ApiResult<InstitutionView> {
    Ok(Json(app.store.institution(InstitutionId(id)).await?.into()))
}

/// Register an institution.
#[utoipa::path(post, path = "/api/v1/institutions", tag = "admin", request_body = CreateInstitution,
    responses((status = 200, body = InstitutionView), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    p: Principal,
    Json(req): Json<CreateInstitution>,
) -> ApiResult<InstitutionView> {
    Ok(Json(
        actions::create_institution(&app, &p, req).await?.into(),
    ))
}
