//! Users, sessions, API tokens and login throttling.

use super::{Db, on_pool};
use crate::{
    StoreError,
    model::{ApiToken, Millis, NewUser, Page, Session, User, now_millis},
    password::hash_password,
    secret::Secret,
};
use hdos_core::{InstitutionId, Role, TokenId, UserId};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    password_hash: String,
    roles: String,
    institution_id: Option<i64>,
    disabled: i64,
    must_change_password: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: UserId(r.id),
            username: r.username,
            display_name: r.display_name,
            password_hash: r.password_hash,
            // Roles are written only by `encode_roles`; an unknown name would mean a newer schema.
            roles: r.roles.split(',').filter_map(|s| s.parse().ok()).collect(),
            institution_id: r.institution_id.map(InstitutionId),
            disabled: r.disabled != 0,
            must_change_password: r.must_change_password != 0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const USER_COLUMNS: &str = "id, username, display_name, password_hash, roles, institution_id, \
                            disabled, must_change_password, created_at, updated_at";

fn encode_roles(roles: &[Role]) -> Result<String, StoreError> {
    if roles.is_empty() {
        return Err(StoreError::InvalidInput {
            what: "roles",
            reason: "an account needs at least one role".into(),
        });
    }
    Ok(roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(","))
}

fn check_scope(roles: &[Role], institution: Option<InstitutionId>) -> Result<(), StoreError> {
    if roles.iter().any(|r| r.is_institution_scoped()) && institution.is_none() {
        return Err(StoreError::InvalidInput {
            what: "institution",
            reason: "a provider account must belong to an institution".into(),
        });
    }
    Ok(())
}

fn check_username(username: &str) -> Result<(), StoreError> {
    let ok = (2..=64).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidInput {
            what: "username",
            reason: "2–64 letters, digits or _ - . @".into(),
        })
    }
}

pub(super) async fn create_user(db: &Db, new: NewUser) -> Result<User, StoreError> {
    check_username(&new.username)?;
    check_scope(&new.roles, new.institution_id)?;
    let roles = encode_roles(&new.roles)?;
    let hash = hash_password(new.password.expose())?;
    let now = now_millis();
    let sql = format!(
        "INSERT INTO users (username, display_name, password_hash, roles, institution_id, \
         disabled, must_change_password, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $7) RETURNING {USER_COLUMNS}"
    );
    let row: UserRow = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(&new.username).bind(&new.display_name).bind(&hash).bind(&roles)
        .bind(new.institution_id.map(|i| i.0)).bind(i64::from(new.must_change_password)).bind(now)
        .fetch_one(p).await)
    .map_err(|e| StoreError::from_sqlx("user", &new.username, e))?;
    Ok(row.into())
}

pub(super) async fn user(db: &Db, id: UserId) -> Result<User, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row: Option<UserRow> =
        on_pool!(db, p => sqlx::query_as(&sql).bind(id.0).fetch_optional(p).await)?;
    row.map(Into::into).ok_or(StoreError::NotFound {
        what: "user",
        key: id.to_string(),
    })
}

pub(super) async fn user_by_name(db: &Db, username: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
    let row: Option<UserRow> =
        on_pool!(db, p => sqlx::query_as(&sql).bind(username).fetch_optional(p).await)?;
    Ok(row.map(Into::into))
}

pub(super) async fn list_users(db: &Db, page: Page) -> Result<Vec<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username LIMIT $1 OFFSET $2");
    let rows: Vec<UserRow> = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(page.limit).bind(page.offset).fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(super) async fn count_users(db: &Db) -> Result<i64, StoreError> {
    Ok(on_pool!(db, p => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(p).await)?)
}

fn affected_one(what: &'static str, key: impl ToString, n: u64) -> Result<(), StoreError> {
    if n == 0 {
        Err(StoreError::NotFound {
            what,
            key: key.to_string(),
        })
    } else {
        Ok(())
    }
}

pub(super) async fn set_password(db: &Db, id: UserId, password: &Secret) -> Result<(), StoreError> {
    let hash = hash_password(password.expose())?;
    let sql = "UPDATE users SET password_hash = $1, must_change_password = 0, updated_at = $2 \
               WHERE id = $3";
    let n = on_pool!(db, p => sqlx::query(sql).bind(&hash).bind(now_millis()).bind(id.0)
        .execute(p).await.map(|r| r.rows_affected()))?;
    affected_one("user", id, n)
}

pub(super) async fn set_disabled(db: &Db, id: UserId, disabled: bool) -> Result<(), StoreError> {
    on_pool!(db, p => {
        let mut tx = p.begin_with(db.begin_write()).await?;
        let n = sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(disabled)).bind(now_millis()).bind(id.0)
            .execute(&mut *tx).await?.rows_affected();
        affected_one("user", id, n)?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.0).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    })
}

pub(super) async fn set_roles(
    db: &Db,
    id: UserId,
    roles: &[Role],
    institution: Option<InstitutionId>,
) -> Result<(), StoreError> {
    check_scope(roles, institution)?;
    let encoded = encode_roles(roles)?;
    let sql = "UPDATE users SET roles = $1, institution_id = $2, updated_at = $3 WHERE id = $4";
    let n = on_pool!(db, p => sqlx::query(sql).bind(&encoded).bind(institution.map(|i| i.0))
        .bind(now_millis()).bind(id.0).execute(p).await.map(|r| r.rows_affected()))?;
    affected_one("user", id, n)
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    user_id: i64,
    csrf_token: String,
    created_at: i64,
    expires_at: i64,
    last_seen_at: i64,
}

pub(super) async fn create_session(
    db: &Db,
    token_hash: &str,
    s: &Session,
) -> Result<(), StoreError> {
    let sql = "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, \
               last_seen_at) VALUES ($1, $2, $3, $4, $5, $6)";
    on_pool!(db, p => sqlx::query(sql).bind(token_hash).bind(s.user_id.0).bind(&s.csrf_token)
        .bind(s.created_at).bind(s.expires_at).bind(s.last_seen_at).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub(super) async fn session(
    db: &Db,
    token_hash: &str,
    now: Millis,
) -> Result<Option<Session>, StoreError> {
    let sql = "SELECT user_id, csrf_token, created_at, expires_at, last_seen_at FROM sessions \
               WHERE token_hash = $1 AND expires_at > $2";
    let row: Option<SessionRow> = on_pool!(db, p => sqlx::query_as(sql).bind(token_hash).bind(now)
        .fetch_optional(p).await)?;
    Ok(row.map(|r| Session {
        user_id: UserId(r.user_id),
        csrf_token: r.csrf_token,
        created_at: r.created_at,
        expires_at: r.expires_at,
        last_seen_at: r.last_seen_at,
    }))
}

pub(super) async fn touch_session(
    db: &Db,
    token_hash: &str,
    now: Millis,
    expires_at: Millis,
) -> Result<(), StoreError> {
    let sql = "UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE token_hash = $3";
    on_pool!(db, p => sqlx::query(sql).bind(now).bind(expires_at).bind(token_hash).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub(super) async fn delete_session(db: &Db, token_hash: &str) -> Result<(), StoreError> {
    on_pool!(db, p => sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub(super) async fn delete_user_sessions(db: &Db, user: UserId) -> Result<u64, StoreError> {
    Ok(
        on_pool!(db, p => sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user.0).execute(p).await.map(|r| r.rows_affected()))?,
    )
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    user_id: i64,
    name: String,
    prefix: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        Self {
            id: TokenId(r.id),
            user_id: UserId(r.user_id),
            name: r.name,
            prefix: r.prefix,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        }
    }
}

const TOKEN_COLUMNS: &str =
    "id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at";

pub(super) async fn create_api_token(
    db: &Db,
    user: UserId,
    name: &str,
    token_hash: &str,
    prefix: &str,
    expires_at: Option<Millis>,
) -> Result<ApiToken, StoreError> {
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(StoreError::InvalidInput {
            what: "token name",
            reason: "1–100 characters".into(),
        });
    }
    let sql = format!(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
    );
    let row: TokenRow = on_pool!(db, p => sqlx::query_as(&sql).bind(user.0).bind(name)
        .bind(token_hash).bind(prefix).bind(now_millis()).bind(expires_at).fetch_one(p).await)
    .map_err(|e| StoreError::from_sqlx("api token", prefix, e))?;
    Ok(row.into())
}

pub(super) async fn api_token_by_hash(
    db: &Db,
    token_hash: &str,
    now: Millis,
) -> Result<Option<ApiToken>, StoreError> {
    let sql = format!(
        "UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2) RETURNING {TOKEN_COLUMNS}"
    );
    let row: Option<TokenRow> = on_pool!(db, p => sqlx::query_as(&sql).bind(token_hash).bind(now)
        .fetch_optional(p).await)?;
    Ok(row.map(Into::into))
}

pub(super) async fn list_api_tokens(
    db: &Db,
    user: Option<UserId>,
) -> Result<Vec<ApiToken>, StoreError> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE ($1 IS NULL OR user_id = $1) \
         ORDER BY created_at DESC, id DESC"
    );
    let rows: Vec<TokenRow> = on_pool!(db, p => sqlx::query_as(&sql).bind(user.map(|u| u.0))
        .fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(super) async fn revoke_api_token(
    db: &Db,
    id: TokenId,
    now: Millis,
) -> Result<ApiToken, StoreError> {
    let sql = format!(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 \
         RETURNING {TOKEN_COLUMNS}"
    );
    let row: Option<TokenRow> =
        on_pool!(db, p => sqlx::query_as(&sql).bind(id.0).bind(now).fetch_optional(p).await)?;
    row.map(Into::into).ok_or(StoreError::NotFound {
        what: "api token",
        key: id.to_string(),
    })
}

pub(super) async fn record_login_failure(
    db: &Db,
    username: &str,
    now: Millis,
    window_ms: i64,
) -> Result<i64, StoreError> {
    // A failure outside the window starts a new window.
    let sql = "INSERT INTO login_failures (username, failures, window_start) VALUES ($1, 1, $2) \
               ON CONFLICT (username) DO UPDATE SET \
                 failures = CASE WHEN login_failures.window_start + $3 < $2 THEN 1 \
                                 ELSE login_failures.failures + 1 END, \
                 window_start = CASE WHEN login_failures.window_start + $3 < $2 THEN $2 \
                                     ELSE login_failures.window_start END \
               RETURNING failures";
    Ok(
        on_pool!(db, p => sqlx::query_scalar(sql).bind(username).bind(now).bind(window_ms)
        .fetch_one(p).await)?,
    )
}

pub(super) async fn lock_login(db: &Db, username: &str, until: Millis) -> Result<(), StoreError> {
    on_pool!(db, p => sqlx::query("UPDATE login_failures SET locked_until = $2 WHERE username = $1")
        .bind(username).bind(until).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub(super) async fn login_locked_until(
    db: &Db,
    username: &str,
) -> Result<Option<Millis>, StoreError> {
    let v: Option<Option<i64>> = on_pool!(db, p => sqlx::query_scalar(
        "SELECT locked_until FROM login_failures WHERE username = $1")
        .bind(username).fetch_optional(p).await)?;
    Ok(v.flatten().filter(|&until| until > now_millis()))
}

pub(super) async fn clear_login_failures(db: &Db, username: &str) -> Result<(), StoreError> {
    on_pool!(db, p => sqlx::query("DELETE FROM login_failures WHERE username = $1")
        .bind(username).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}
