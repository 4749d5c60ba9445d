//! Administration pages: users, institutions and API tokens.

use crate::{
    actions::{self, CreateInstitution, CreateToken, CreateUser},
    auth::Principal,
    error::{ApiError, PageError, render},
    state::AppState,
    ui::{PageCtx, flash, fmt_ms, role_key},
};
use axum::{
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use hdos_core::{Role, TokenId, UserId};
use hdos_store::{Page, Secret};
use serde::Deserialize;

/// The answer to a form that worked: go to `to`.
pub(crate) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    msg: Option<String>,
    offset: Option<i64>,
}

const PAGE_SIZE: i64 = 50;

/// Previous/next links of a table page.
#[derive(Debug)]
pub struct Pager {
    /// "N in all", translated.
    pub info: String,
    pub prev: Option<i64>,
    pub next: Option<i64>,
    /// The rest of the query string (`&name=value…`) the links keep.
    pub qs: String,
}

impl Pager {
    pub fn new(t: crate::i18n::T, total: i64, offset: i64, size: i64) -> Self {
        Self {
            info: t.fmt("common.page_info", &[("total", &total.to_string())]),
            prev: (offset > 0).then(|| (offset - size).max(0)),
            next: (offset + size < total).then_some(offset + size),
            qs: String::new(),
        }
    }

    pub fn keeping(mut self, query: &str) -> Self {
        self.qs = format!("&{query}");
        self
    }
}

pub struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    roles: String,
    institution: String,
    disabled: bool,
    created: String,
}

#[derive(askama::Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    ctx: PageCtx,
    rows: Vec<UserRow>,
    roles: Vec<(&'static str, &'static str)>,
    institutions: Vec<(i64, String)>,
    message: Option<&'static str>,
    pager: Pager,
}

pub async fn users(
    State(app): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<ListQuery>,
) -> Response {
    let t = ctx.t;
    let offset = q.offset.unwrap_or(0).max(0);
    let result: Result<_, ApiError> = async {
        let users = app.store.list_users(Page::new(PAGE_SIZE, offset)).await?;
        let total = app.store.count_users().await?;
        let insts = app
            .store
            .list_institutions(Page::new(Page::MAX_LIMIT, 0))
            .await?;
        Ok((users, total, insts))
    }
    .await;
    let (users, total, insts) = match result {
        Ok(v) => v,
        Err(e) => return PageError::new(t, e).into_response(),
    };
    let inst_name = |id: Option<hdos_core::InstitutionId>| {
        id.and_then(|id| insts.iter().find(|i| i.id == id))
            .map(|i| i.name.clone())
            .unwrap_or_default()
    };
    let rows = users
        .into_iter()
        .map(|u| UserRow {
            id: u.id.0,
            roles: u
                .roles
                .iter()
                .map(|r| t.get(role_key(*r)))
                .collect::<Vec<_>>()
                .join("、"),
            institution: inst_name(u.institution_id),
            username: u.username,
            display_name: u.display_name,
            disabled: u.disabled,
            created: fmt_ms(u.created_at),
        })
        .collect();
    let message = flash(
        t,
        q.msg.as_deref(),
        &["users.created", "users.disabled_done", "users.enabled_done"],
    );
    render(
        StatusCode::OK,
        &UsersPage {
            ctx,
            rows,
            roles: Role::ALL
                .iter()
                .map(|r| (r.as_str(), t.get(role_key(*r))))
                .collect(),
            institutions: insts.into_iter().map(|i| (i.id.0, i.name)).collect(),
            message,
            pager: Pager::new(t, total, offset, PAGE_SIZE),
        },
    )
}

/// The user form: roles arrive as repeated `roles` fields, so the body is parsed by hand.
pub async fn create_user(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    body: String,
) -> Response {
    let t = ctx.t;
    let mut req = CreateUser {
        username: String::new(),
        display_name: String::new(),
        password: Secret::new(""),
        roles: Vec::new(),
        institution_id: None,
        must_change_password: true,
    };
    for (k, v) in url::form_urlencoded::parse(body.as_bytes()) {
        match k.as_ref() {
            "username" => req.username = v.into_owned(),
            "display_name" => req.display_name = v.into_owned(),
            "password" => req.password = Secret::new(v.into_owned()),
            "roles" => match v.parse::<Role>() {
                Ok(r) => req.roles.push(r),
                Err(e) => return PageError::new(t, e).into_response(),
            },
            "institution_id" if !v.is_empty() => match v.parse::<i64>() {
                Ok(id) => req.institution_id = Some(id),
                Err(_) => {
                    return PageError::new(t, ApiError::invalid("institution_id")).into_response();
                }
            },
            _ => {}
        }
    }
    match actions::create_user(&app, &p, req).await {
        Ok(_) => see_other("/admin/users?msg=users.created"),
        Err(e) => PageError::new(t, e).into_response(),
    }
}

pub async fn disable_user(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> Response {
    match actions::set_disabled(&app, &p, UserId(id), true).await {
        Ok(_) => see_other("/admin/users?msg=users.disabled_done"),
        Err(e) => PageError::new(ctx.t, e).into_response(),
    }
}

pub async fn enable_user(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> Response {
    match actions::set_disabled(&app, &p, UserId(id), false).await {
        Ok(_) => see_other("/admin/users?msg=users.enabled_done"),
        Err(e) => PageError::new(ctx.t, e).into_response(),
    }
}

#[derive(askama::Template)]
#[template(path = "admin_institutions.html")]
struct InstitutionsPage {
    ctx: PageCtx,
    rows: Vec<hdos_store::Institution>,
    grades: Vec<String>,
    kinds: Vec<String>,
    message: Option<&'static str>,
    pager: Pager,
}

pub async fn institutions(
    State(app): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<ListQuery>,
) -> Response {
    let t = ctx.t;
    let offset = q.offset.unwrap_or(0).max(0);
    let result: Result<_, ApiError> = async {
        Ok((
            app.store
                .list_institutions(Page::new(PAGE_SIZE, offset))
                .await?,
            app.store.count_institutions().await?,
        ))
    }
    .await;
    match result {
        Ok((rows, total)) => render(
            StatusCode::OK,
            &InstitutionsPage {
                ctx,
                rows,
                grades: crate::validation::institution_domain("grade"),
                kinds: crate::validation::institution_domain("kind"),
                message: flash(t, q.msg.as_deref(), &["institutions.created"]),
                pager: Pager::new(t, total, offset, PAGE_SIZE),
            },
        ),
        Err(e) => PageError::new(t, e).into_response(),
    }
}

pub async fn create_institution(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    axum::Form(form): axum::Form<CreateInstitution>,
) -> Response {
    match actions::create_institution(&app, &p, form).await {
        Ok(_) => see_other("/admin/institutions?msg=institutions.created"),
        Err(e) => PageError::new(ctx.t, e).into_response(),
    }
}

pub struct TokenRow {
    id: i64,
    owner: String,
    name: String,
    prefix: String,
    created: String,
    expires: String,
    last_used: String,
    revoked: bool,
}

#[derive(askama::Template)]
#[template(path = "admin_tokens.html")]
struct TokensPage {
    ctx: PageCtx,
    rows: Vec<TokenRow>,
    users: Vec<(i64, String)>,
    created_token: Option<String>,
    message: Option<&'static str>,
}

async fn tokens_page(
    app: &AppState,
    ctx: PageCtx,
    created_token: Option<String>,
    msg: Option<&str>,
) -> Response {
    let t = ctx.t;
    let result: Result<_, ApiError> = async {
        Ok((
            app.store.list_api_tokens(None).await?,
            app.store.list_users(Page::new(Page::MAX_LIMIT, 0)).await?,
        ))
    }
    .await;
    let (tokens, users) = match result {
        Ok(v) => v,
        Err(e) => return PageError::new(t, e).into_response(),
    };
    let none = t.get("common.none");
    let rows = tokens
        .into_iter()
        .map(|k| TokenRow {
            id: k.id.0,
            owner: users
                .iter()
                .find(|u| u.id == k.user_id)
                .map(|u| u.username.clone())
                .unwrap_or_default(),
            name: k.name,
            prefix: k.prefix,
            created: fmt_ms(k.created_at),
            expires: k.expires_at.map(fmt_ms).unwrap_or_else(|| none.to_owned()),
            last_used: k
                .last_used_at
                .map(fmt_ms)
                .unwrap_or_else(|| none.to_owned()),
            revoked: k.revoked_at.is_some(),
        })
        .collect();
    render(
        StatusCode::OK,
        &TokensPage {
            ctx,
            rows,
            users: users.into_iter().map(|u| (u.id.0, u.username)).collect(),
            created_token,
            message: flash(t, msg, &["tokens.revoked_done"]),
        },
    )
}

pub async fn tokens(
    State(app): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<ListQuery>,
) -> Response {
    tokens_page(&app, ctx, None, q.msg.as_deref()).await
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    user_id: i64,
    name: String,
    expires_in_days: Option<String>,
}

/// Shows the new token on the page that answers the form: it is never shown again.
pub async fn create_token(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    axum::Form(f): axum::Form<TokenForm>,
) -> Response {
    let t = ctx.t;
    let expires_in_days = match f.expires_in_days.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => match d.parse::<i64>() {
            Ok(d) => Some(d),
            Err(_) => {
                return PageError::new(t, ApiError::invalid("expires_in_days")).into_response();
            }
        },
    };
    let req = CreateToken {
        user_id: f.user_id,
        name: f.name,
        expires_in_days,
    };
    match actions::create_token(&app, &p, req).await {
        Ok(created) => tokens_page(&app, ctx, Some(created.token), None).await,
        Err(e) => PageError::new(t, e).into_response(),
    }
}

pub async fn revoke_token(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> Response {
    match actions::revoke_token(&app, &p, TokenId(id)).await {
        Ok(_) => see_other("/admin/tokens?msg=tokens.revoked_done"),
        Err(e) => PageError::new(ctx.t, e).into_response(),
    }
}
