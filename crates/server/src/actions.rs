//! Audited actions shared by the JSON API and the pages: each validates its input, changes the
//! store and writes the audit entry, so both surfaces behave the same.

use crate::{
    auth::{self, Principal},
    error::ApiError,
    state::AppState,
};
use hdos_core::{ErrorKind, InstitutionId, Role, TokenId, UserId};
use hdos_ingest::channel::ChannelSpec;
use hdos_store::{
    ApiToken, Institution, NewInstitution, NewUser, Outcome, Secret, User, now_millis,
};
use serde::Deserialize;

/// A new account, as the admin enters it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateUser {
    pub username: String,
    pub display_name: String,
    #[schema(value_type = String, format = Password)]
    pub password: Secret,
    #[schema(value_type = Vec<String>, example = json!(["manager"]))]
    pub roles: Vec<Role>,
    pub institution_id: Option<i64>,
    /// Make the user choose a new password at first login (default true).
    #[serde(default = "yes")]
    pub must_change_password: bool,
}

fn yes() -> bool {
    true
}

pub async fn create_user(
    app: &AppState,
    by: &Principal,
    req: CreateUser,
) -> Result<User, ApiError> {
    let institution_id = req.institution_id.map(InstitutionId);
    if let Some(id) = institution_id {
        app.store.institution(id).await?;
    }
    let username = req.username.trim().to_owned();
    let new = NewUser {
        username: username.clone(),
        display_name: req.display_name.trim().to_owned(),
        password: req.password,
        roles: req.roles,
        institution_id,
        must_change_password: req.must_change_password,
    };
    let result = app.store.create_user(new).await;
    let outcome = if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    app.audit(
        by.actor()
            .entry("user.create", &username, outcome, serde_json::json!({})),
    )
    .await;
    Ok(result?)
}

pub async fn set_disabled(
    app: &AppState,
    by: &Principal,
    id: UserId,
    disabled: bool,
) -> Result<User, ApiError> {
    if disabled && id == by.user.id {
        return Err(ApiError::new(
            ErrorKind::FailedPrecondition,
            "you cannot disable your own account",
        ));
    }
    let user = app.store.user(id).await?;
    app.store.set_disabled(id, disabled).await?;
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    app.audit_simple(&by.actor(), action, user.username.clone(), Outcome::Success)
        .await;
    Ok(app.store.user(id).await?)
}

/// A new institution of the region.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateInstitution {
    /// Unified social credit code (18 characters).
    pub code: String,
    pub name: String,
    /// 三级 / 二级 / 一级 / 未定级
    pub grade: String,
    /// 综合医院, 中医医院, 专科医院, 妇幼保健院, 社区卫生服务中心, 乡镇卫生院, 村卫生室, 疾控中心
    pub kind: String,
    /// GB/T 2260 six-digit region code.
    pub region_code: String,
}

pub async fn create_institution(
    app: &AppState,
    by: &Principal,
    req: CreateInstitution,
) -> Result<Institution, ApiError> {
    let new = NewInstitution {
        code: req.code.trim().to_ascii_uppercase(),
        name: req.name.trim().to_owned(),
        grade: req.grade.trim().to_owned(),
        kind: req.kind.trim().to_owned(),
        region_code: req.region_code.trim().to_owned(),
    };
    crate::validation::institution(&new)?;
    let result = app.store.create_institution(new.clone()).await;
    let outcome = if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    app.audit(by.actor().entry(
        "institution.create",
        &new.code,
        outcome,
        serde_json::json!({"name": new.name}),
    ))
    .await;
    Ok(result?)
}

/// A token for a machine account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateToken {
    /// The account the token acts as.
    pub user_id: i64,
    pub name: String,
    /// Days until the token expires; none for a token that does not expire.
    pub expires_in_days: Option<i64>,
}

/// The created token: `token` is shown this once and never stored in clear.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub token: String,
    #[schema(value_type = Object)]
    pub info: ApiToken,
}

pub async fn create_token(
    app: &AppState,
    by: &Principal,
    req: CreateToken,
) -> Result<CreatedToken, ApiError> {
    let owner = app.store.user(UserId(req.user_id)).await?;
    let expires_at = match req.expires_in_days {
        Some(d) if !(1..=3650).contains(&d) => {
            return Err(ApiError::invalid(
                "expires_in_days must be between 1 and 3650",
            ));
        }
        Some(d) => Some(now_millis() + d * 86_400_000),
        None => None,
    };
    let token = format!("{}{}", auth::TOKEN_PREFIX, auth::random_token(30));
    let prefix: String = token.chars().take(auth::TOKEN_PREFIX.len() + 6).collect();
    let info = app
        .store
        .create_api_token(
            owner.id,
            req.name.trim(),
            &auth::hash_token(&token),
            &prefix,
            expires_at,
        )
        .await?;
    app.audit(by.actor().entry(
        "token.create",
        format!("{} for {}", prefix, owner.username),
        Outcome::Success,
        serde_json::json!({"token_id": info.id.0, "name": info.name}),
    ))
    .await;
    Ok(CreatedToken { token, info })
}

pub async fn revoke_token(
    app: &AppState,
    by: &Principal,
    id: TokenId,
) -> Result<ApiToken, ApiError> {
    let info = app.store.revoke_api_token(id, now_millis()).await?;
    app.audit(by.actor().entry(
        "token.revoke",
        info.prefix.clone(),
        Outcome::Success,
        serde_json::json!({"token_id": id.0}),
    ))
    .await;
    Ok(info)
}

/// Checks the current password and sets the new one; all sessions of the account end.
pub async fn change_password(
    app: &AppState,
    by: &Principal,
    current: Secret,
    new: Secret,
) -> Result<(), ApiError> {
    let stored = by.user.password_hash.clone();
    let ok = tokio::task::spawn_blocking(move || {
        hdos_store::password::verify_password(current.expose(), &stored)
    })
    .await
    .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
    if !ok {
        app.audit(by.actor().entry(
            "user.password",
            by.user.username.clone(),
            Outcome::Failure,
            serde_json::json!({"reason": "wrong current password"}),
        ))
        .await;
        return Err(ApiError::new(
            ErrorKind::Unauthenticated,
            "the current password is wrong",
        ));
    }
    app.store.set_password(by.user.id, &new).await?;
    // Every session of the account ends (a stolen cookie included); the caller logs in again.
    app.store.delete_user_sessions(by.user.id).await?;
    app.audit_simple(
        &by.actor(),
        "user.password",
        by.user.username.clone(),
        Outcome::Success,
    )
    .await;
    Ok(())
}

/// What a manager asks of a collection channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelAction {
    /// Run a batch channel now.
    Run,
    /// Stop the current run after its current chunk.
    Cancel,
    Enable,
    Disable,
}

impl ChannelAction {
    fn audit_action(self) -> &'static str {
        match self {
            Self::Run => "channel.run",
            Self::Cancel => "channel.cancel",
            Self::Enable => "channel.enable",
            Self::Disable => "channel.disable",
        }
    }
}

/// Whether a worker holds the channel's lease, i.e. runs it.
async fn running(app: &AppState, name: &str) -> Result<bool, ApiError> {
    let leases = app.store.live_channel_leases(now_millis()).await?;
    Ok(leases.iter().any(|l| l.channel == name))
}

/// Records the request in the store, where the worker running the channel (or the next one to
/// lease it) acts on it within a poll.
pub async fn channel_action(
    app: &AppState,
    by: &Principal,
    name: &str,
    action: ChannelAction,
) -> Result<(), ApiError> {
    let channel =
        app.store.channel(name).await?.ok_or_else(|| {
            ApiError::new(ErrorKind::NotFound, format!("channel `{name}` not found"))
        })?;
    let streaming = ChannelSpec::of(&channel)?.is_streaming();
    let result = match action {
        ChannelAction::Run if streaming => Err(ApiError::new(
            ErrorKind::FailedPrecondition,
            format!(
                "`{name}` is a {} channel: it runs all the time while enabled",
                channel.kind
            ),
        )
        .localized("channels.streaming", vec![("name", name.to_owned())])),
        ChannelAction::Run => Ok(app.store.request_channel_run(name, now_millis()).await?),
        ChannelAction::Cancel if !running(app, name).await? => Err(ApiError::new(
            ErrorKind::FailedPrecondition,
            format!("`{name}` is not running: there is nothing to cancel"),
        )
        .localized("channels.not_running", vec![("name", name.to_owned())])),
        ChannelAction::Cancel => Ok(app.store.request_channel_cancel(name, now_millis()).await?),
        ChannelAction::Enable => Ok(app.store.set_channel_enabled(name, true).await?),
        ChannelAction::Disable => Ok(app.store.set_channel_enabled(name, false).await?),
    };
    let outcome = if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    app.audit(by.actor().entry(
        action.audit_action(),
        name,
        outcome,
        serde_json::json!({ "institution": channel.institution }),
    ))
    .await;
    result
}

/// What a manager does with an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertAction {
    /// Someone is on it.
    Acknowledge,
    Resolve,
}

pub async fn alert_action(
    app: &AppState,
    by: &Principal,
    id: i64,
    action: AlertAction,
) -> Result<(), ApiError> {
    let (status, audit_action) = match action {
        AlertAction::Acknowledge => (hdos_store::AlertStatus::Acknowledged, "alert.acknowledge"),
        AlertAction::Resolve => (hdos_store::AlertStatus::Resolved, "alert.resolve"),
    };
    let result = app
        .store
        .set_alert_status(id, status, Some(&by.user.username))
        .await;
    let outcome = if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    app.audit(
        by.actor()
            .entry(audit_action, id.to_string(), outcome, serde_json::json!({})),
    )
    .await;
    result.map(|_| ()).map_err(Into::into)
}
