use crate::{
    actions::{self, CreateUser},
    api::{ApiResult, PageQuery, Paged, auth::UserView},
    auth::Principal,
    error::ErrorBody,
    state::AppState,
};
use axum::{
    Json,
    extract::{Path, Query, State},
};
use hdos_core::UserId;

/// List accounts.
#[utoipa::path(get, path = "/api/v1/users", tag = "admin", params(PageQuery),
    responses((status = 200, body = Paged<UserView>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Paged<UserView>> {
    let page = q.page();
    let items = app.store.list_users(page).await?;
    Ok(Json(Paged {
        items: items.iter().map(UserView::from).collect(),
        total: app.store.count_users().await?,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// Create an account.
#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = CreateUser,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    p: Principal,
    Json(req): Json<CreateUser>,
) -> ApiResult<UserView> {
    let user = actions::create_user(&app, &p, req).await?;
    Ok(Json(UserView::from(&user)))
}

/// Disable an account; all its sessions end and its tokens stop working.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "admin",
    params(("id" = i64, Path)), responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
pub async fn disable(
    State(app): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<UserView> {
    let user = actions::set_disabled(&app, &p, UserId(id), true).await?;
    Ok(Json(UserView::from(&user)))
}

/// Enable a disabled account.
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "admin",
    params(("id" = i64, Path)), responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
pub async fn enable(
    State(app): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<UserView> {
    let user = actions::set_disabled(&app, &p, UserId(id), false).await?;
    Ok(Json(UserView::from(&user)))
}
