use crate::{
    api::ApiResult,
    auth::{self as authn, LoginRefused, Principal, SESSION_COOKIE},
    error::{ApiError, ErrorBody},
    guard::client_ip,
    state::AppState,
};
use axum::{
    Json,
    extract::{Request, State},
    http::header,
    response::{IntoResponse, Response},
};
use hdos_core::ErrorKind;
use hdos_store::Secret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub username: String,
    #[schema(value_type = String, format = Password)]
    pub password: Secret,
}

/// The logged-in account and the CSRF token to send as `X-CSRF-Token` on state-changing calls.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub user: UserView,
    pub csrf_token: String,
}

/// An account as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub institution_id: Option<i64>,
    pub disabled: bool,
    pub must_change_password: bool,
}

impl From<&hdos_store::User> for UserView {
    fn from(u: &hdos_store::User) -> Self {
        Self {
            id: u.id.0,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            roles: u.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            institution_id: u.institution_id.map(|i| i.0),
            disabled: u.disabled,
            must_change_password: u.must_change_password,
        }
    }
}

/// Log in with a password; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "account disabled"),
              (status = 429, body = ErrorBody, description = "too many failed logins")))]
pub async fn login(State(app): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let ip = client_ip(&req);
    let body = axum::body::to_bytes(req.into_body(), 64 * 1024)
        .await
        .map_err(|_| ApiError::invalid("request body too large"))?;
    let creds: LoginRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("expected {{\"username\", \"password\"}}: {e}")))?;
    match authn::login(&app, &creds.username, creds.password, &ip).await? {
        Ok(s) => {
            let cookie = authn::set_cookie(
                SESSION_COOKIE,
                &s.cookie_token,
                s.max_age_secs,
                true,
                app.config.secure_cookies,
            );
            let body = LoginResponse {
                user: UserView::from(&s.user),
                csrf_token: s.csrf,
            };
            Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
        }
        Err(LoginRefused::WrongCredentials) => Err(ApiError::new(
            ErrorKind::Unauthenticated,
            "wrong username or password",
        )),
        Err(LoginRefused::Locked { .. }) => Err(ApiError::new(
            ErrorKind::TooManyRequests,
            "too many failed logins; try again later",
        )),
        Err(LoginRefused::Disabled) => Err(ApiError::new(
            ErrorKind::Forbidden,
            "this account is disabled",
        )),
    }
}

/// End the current session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn logout(State(app): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    authn::logout(&app, &p).await?;
    let clear = authn::set_cookie(SESSION_COOKIE, "", 0, true, app.config.secure_cookies);
    Ok((
        axum::http::StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear)],
    )
        .into_response())
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
pub async fn me(p: Principal) -> ApiResult<UserView> {
    Ok(Json(UserView::from(&p.user)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    #[schema(value_type = String, format = Password)]
    pub current_password: Secret,
    #[schema(value_type = String, format = Password)]
    pub new_password: Secret,
}

/// Change the caller's password; every session of the account ends.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn change_password(
    State(app): State<AppState>,
    p: Principal,
    Json(req): Json<PasswordChange>,
) -> Result<axum::http::StatusCode, ApiError> {
    crate::actions::change_password(&app, &p, req.current_password, req.new_password).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
