//! Server-rendered pages. Every page gets a [`PageCtx`]: the reader's language, account,
//! navigation and CSRF token.

pub mod admin;
pub mod assets;
pub mod audit;
pub mod collection;
pub mod home;
pub mod login;
pub mod mapping;
pub mod monitoring;
pub mod notifications;
pub mod password;
pub mod quality;
pub mod quarantine;
pub mod upload;

use crate::{
    auth::{self, CSRF_COOKIE, Principal},
    i18n::{Lang, T},
    nav::{self, NavGroup},
    state::AppState,
};
use axum::{
    extract::FromRequestParts,
    http::{HeaderValue, request::Parts},
};
use std::convert::Infallible;

/// The signed-in account as the header shows it.
#[derive(Debug, Clone)]
pub struct UserBadge {
    pub display_name: String,
    pub roles: String,
}

#[derive(Debug, Clone)]
pub struct PageCtx {
    pub t: T,
    pub user: Option<UserBadge>,
    pub nav: Vec<NavGroup>,
    /// The token forms carry in `_csrf`: the session's, or the double-submit cookie's.
    pub csrf: String,
    /// A new double-submit cookie to set, when the reader had none.
    pub new_csrf_cookie: Option<String>,
    pub path: String,
    /// The current path and query, URL-encoded, for the language switch to return to.
    pub here_enc: String,
    pub other_lang: &'static str,
    pub principal: Option<Principal>,
    /// Unresolved alerts the reader is told of beside 链路监控: all of them for a manager, its
    /// institution's for a provider, none for other roles.
    pub open_alerts: i64,
}

impl PageCtx {
    /// The translated name of each role, joined.
    fn badge(t: T, p: &Principal) -> UserBadge {
        UserBadge {
            display_name: p.user.display_name.clone(),
            roles: p
                .user
                .roles
                .iter()
                .map(|r| t.get(role_key(*r)))
                .collect::<Vec<_>>()
                .join("、"),
        }
    }

    /// `Set-Cookie` for the double-submit token, when one was minted for this page.
    pub fn csrf_cookie(&self, secure: bool) -> Option<HeaderValue> {
        self.new_csrf_cookie
            .as_deref()
            .map(|v| auth::set_cookie(CSRF_COOKIE, v, 8 * 3600, true, secure))
    }
}

pub fn role_key(r: hdos_core::Role) -> &'static str {
    use hdos_core::Role::*;
    match r {
        Admin => "role.admin",
        Manager => "role.manager",
        Provider => "role.provider",
        User => "role.user",
        Auditor => "role.auditor",
    }
}

impl FromRequestParts<AppState> for PageCtx {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let t = T::new(Lang::from_headers(&parts.headers));
        let principal = parts.extensions.get::<Principal>().cloned();
        let path = parts.uri.path().to_owned();
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let (csrf, new_csrf_cookie) = match principal.as_ref().and_then(|p| p.csrf()) {
            Some(c) => (c.to_owned(), None),
            None => match auth::cookie(&parts.headers, CSRF_COOKIE).filter(|c| !c.is_empty()) {
                Some(c) => (c, None),
                None => {
                    let c = auth::random_token(24);
                    (c.clone(), Some(c))
                }
            },
        };
        let open_alerts = match &principal {
            Some(p) => open_alerts(app, p).await,
            None => 0,
        };
        Ok(PageCtx {
            open_alerts,
            t,
            user: principal.as_ref().map(|p| Self::badge(t, p)),
            nav: principal
                .as_ref()
                .map(|p| nav::for_roles(t, p.roles(), &path))
                .unwrap_or_default(),
            csrf,
            new_csrf_cookie,
            here_enc: url::form_urlencoded::byte_serialize(here.as_bytes()).collect(),
            path,
            other_lang: t.lang.other().code(),
            principal,
        })
    }
}

/// Formats Unix milliseconds as local-free UTC text for tables.
pub fn fmt_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The institution a provider-only reader of the page at `path` is limited to, or `None` for a
/// reader who sees every institution's.
pub async fn institution_scope(
    app: &AppState,
    p: &Principal,
    path: &str,
) -> Result<Option<String>, crate::error::ApiError> {
    if !nav::policy_of(path).own_institution().scoped_for(p.roles()) {
        return Ok(None);
    }
    Ok(Some(match p.user.institution_id {
        Some(id) => app.store.institution(id).await?.code,
        // A provider without an institution sees nothing rather than everything.
        None => String::new(),
    }))
}

/// The unresolved alerts `p` is notified of; a failure to count shows none rather than failing
/// the page.
async fn open_alerts(app: &AppState, p: &Principal) -> i64 {
    use hdos_core::Role;
    if !p
        .roles()
        .iter()
        .any(|r| matches!(r, Role::Manager | Role::Provider))
    {
        return 0;
    }
    let counted = async {
        let institution = institution_scope(app, p, monitoring::PATH).await?;
        let filter = hdos_store::AlertFilter {
            institution,
            include_resolved: false,
        };
        Ok::<_, crate::error::ApiError>(app.store.count_alerts(&filter).await?)
    };
    counted.await.unwrap_or(0)
}

/// A whitelisted flash message key from `?msg=`.
pub fn flash(t: T, msg: Option<&str>, allowed: &[&'static str]) -> Option<&'static str> {
    msg.and_then(|m| allowed.iter().find(|k| **k == m).map(|k| t.get(k)))
}

/// The count a `SELECT count(*) …` over one lake table gives; 0 when the table does not exist.
pub async fn lake_count(
    app: &AppState,
    table: &hdos_lake::TableName,
    sql: &str,
) -> Result<i64, crate::error::ApiError> {
    use hdos_lake::arrow::{
        array::AsArray,
        compute::cast,
        datatypes::{DataType, Int64Type},
    };
    if !app.lake.exists(table).await? {
        return Ok(0);
    }
    let b = app.lake.query(std::slice::from_ref(table), sql).await?;
    let Some(b) = b.first() else { return Ok(0) };
    let c = cast(b.column(0), &DataType::Int64).map_err(hdos_lake::LakeError::from)?;
    Ok(c.as_primitive::<Int64Type>().value(0))
}

/// The rows of a query over one lake table as text (empty for NULL), `N` columns each; none when
/// the table does not exist.
pub async fn lake_rows<const N: usize>(
    app: &AppState,
    table: &hdos_lake::TableName,
    sql: &str,
) -> Result<Vec<[String; N]>, crate::error::ApiError> {
    use hdos_lake::arrow::{
        array::{Array, AsArray},
        compute::cast,
        datatypes::DataType,
    };
    if !app.lake.exists(table).await? {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for b in app.lake.query(std::slice::from_ref(table), sql).await? {
        let cols = (0..N)
            .map(|i| cast(b.column(i), &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()
            .map_err(hdos_lake::LakeError::from)?;
        for r in 0..b.num_rows() {
            out.push(std::array::from_fn(|i| {
                let c = cols[i].as_string::<i32>();
                if c.is_null(r) {
                    String::new()
                } else {
                    c.value(r).to_owned()
                }
            }));
        }
    }
    Ok(out)
}
