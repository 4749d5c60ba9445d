use crate::{
    actions::{self, CreateToken, CreatedToken},
    api::ApiResult,
    auth::Principal,
    error::ErrorBody,
    state::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
};
use hdos_core::TokenId;
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl From<hdos_store::ApiToken> for TokenView {
    fn from(t: hdos_store::ApiToken) -> Self {
        Self {
            id: t.id.0,
            user_id: t.user_id.0,
            name: t.name,
            prefix: t.prefix,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// List API tokens (never their values).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "admin",
    responses((status = 200, body = Vec<TokenView>), (status = 403, body = ErrorBody)))]
pub async fn list(State(app): State<AppState>) -> ApiResult<Vec<TokenView>> {
    let tokens = app.store.list_api_tokens(None).await?;
    Ok(Json(tokens.into_iter().map(Into::into).collect()))
}

/// Create a token; its value is in this response only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin", request_body = CreateToken,
    responses((status = 200, body = CreatedToken), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    p: Principal,
    Json(req): Json<CreateToken>,
) -> ApiResult<CreatedToken> {
    Ok(Json(actions::create_token(&app, &p, req).await?))
}

/// Revoke a token; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = TokenView), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(app): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<TokenView> {
    Ok(Json(
        actions::revoke_token(&app, &p, TokenId(id)).await?.into(),
    ))
}
