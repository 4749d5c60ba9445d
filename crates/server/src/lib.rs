//! hdos-server: the JSON API and the server-rendered web UI, behind one authorisation guard.

mod actions;
pub mod api;
pub mod auth;
pub mod config;
pub mod error;
mod extract;
mod guard;
pub mod i18n;
mod layers;
pub mod metrics;
pub mod nav;
pub mod policy;
mod state;
mod ui;
mod validation;

pub use config::ServerConfig;
pub use guard::{CSRF_FIELD, CSRF_HEADER};
pub use state::AppState;

use crate::policy::{Policy, Routes, Surface};
use axum::{Router, middleware};
use hdos_core::Role::{Admin, Auditor, Manager, Provider};
use std::sync::Arc;

const ADMIN: Policy = Policy::roles(&[Admin]);
const AUDITOR: Policy = Policy::roles(&[Auditor]);
const PROVIDER: Policy = Policy::roles(&[Provider]);
const MANAGER: Policy = Policy::roles(&[Manager]);

/// Every route of the server with its policy. The router and the authorisation table are both
/// made from this one list.
pub fn routes() -> Routes {
    use Surface::{Api, Page};
    let mut r = Routes::default()
        // Operations.
        .get("/healthz", Policy::PUBLIC, Api, api::health::healthz)
        .get("/readyz", Policy::PUBLIC, Api, api::health::readyz)
        .get("/metrics", Policy::PUBLIC, Api, api::health::metrics)
        .get(
            "/api/openapi.json",
            Policy::PUBLIC,
            Api,
            api::openapi::serve,
        )
        .get("/assets/style.css", Policy::PUBLIC, Page, ui::assets::style)
        .get("/assets/app.js", Policy::PUBLIC, Page, ui::assets::script)
        // Authentication.
        .post("/api/v1/auth/login", Policy::PUBLIC, Api, api::auth::login)
        .post(
            "/api/v1/auth/logout",
            Policy::AUTHENTICATED,
            Api,
            api::auth::logout,
        )
        .get("/api/v1/me", Policy::AUTHENTICATED, Api, api::auth::me)
        .post(
            "/api/v1/me/password",
            Policy::AUTHENTICATED,
            Api,
            api::auth::change_password,
        )
        .get("/login", Policy::PUBLIC, Page, ui::login::show)
        .post("/login", Policy::PUBLIC, Page, ui::login::submit)
        .post("/logout", Policy::AUTHENTICATED, Page, ui::login::logout)
        .get("/lang/{code}", Policy::PUBLIC, Page, ui::login::switch_lang)
        .get(
            "/account/password",
            Policy::AUTHENTICATED,
            Page,
            ui::password::show,
        )
        .post(
            "/account/password",
            Policy::AUTHENTICATED,
            Page,
            ui::password::submit,
        )
        .get("/", Policy::AUTHENTICATED, Page, ui::home::home)
        .get(
            ui::notifications::PATH,
            Policy::AUTHENTICATED,
            Page,
            ui::notifications::page,
        )
        // Administration.
        .get("/api/v1/users", ADMIN, Api, api::users::list)
        .post("/api/v1/users", ADMIN, Api, api::users::create)
        .post(
            "/api/v1/users/{id}/disable",
            ADMIN,
            Api,
            api::users::disable,
        )
        .post("/api/v1/users/{id}/enable", ADMIN, Api, api::users::enable)
        .get(
            "/api/v1/institutions",
            Policy::roles(&[Admin, Manager]),
            Api,
            api::institutions::list,
        )
        .post(
            "/api/v1/institutions",
            ADMIN,
            Api,
            api::institutions::create,
        )
        .get(
            "/api/v1/institutions/{id}",
            Policy::roles(&[Admin, Manager, Provider]).own_institution(),
            Api,
            api::institutions::get,
        )
        .get("/api/v1/tokens", ADMIN, Api, api::tokens::list)
        .post("/api/v1/tokens", ADMIN, Api, api::tokens::create)
        .delete("/api/v1/tokens/{id}", ADMIN, Api, api::tokens::revoke)
        .get(
            "/admin/users",
            nav::policy_of("/admin/users"),
            Page,
            ui::admin::users,
        )
        .post("/admin/users", ADMIN, Page, ui::admin::create_user)
        .post(
            "/admin/users/{id}/disable",
            ADMIN,
            Page,
            ui::admin::disable_user,
        )
        .post(
            "/admin/users/{id}/enable",
            ADMIN,
            Page,
            ui::admin::enable_user,
        )
        .get(
            "/admin/institutions",
            nav::policy_of("/admin/institutions"),
            Page,
            ui::admin::institutions,
        )
        .post(
            "/admin/institutions",
            ADMIN,
            Page,
            ui::admin::create_institution,
        )
        .get(
            "/admin/tokens",
            nav::policy_of("/admin/tokens"),
            Page,
            ui::admin::tokens,
        )
        .post("/admin/tokens", ADMIN, Page, ui::admin::create_token)
        .post(
            "/admin/tokens/{id}/revoke",
            ADMIN,
            Page,
            ui::admin::revoke_token,
        )
        // FHIR R4 collection, by institutions' interface accounts.
        .get(
            "/fhir/r4/metadata",
            Policy::AUTHENTICATED,
            Api,
            api::fhir::metadata,
        )
        .post("/fhir/r4", PROVIDER, Api, api::fhir::bundle)
        .post("/fhir/r4/{resource}", PROVIDER, Api, api::fhir::create)
        .put("/fhir/r4/{resource}/{id}", PROVIDER, Api, api::fhir::update)
        // Audit.
        .get("/api/v1/audit", AUDITOR, Api, api::audit::list)
        .get("/api/v1/audit/verify", AUDITOR, Api, api::audit::verify)
        .get("/audit", nav::policy_of("/audit"), Page, ui::audit::page)
        .get(
            ui::collection::PATH,
            nav::policy_of(ui::collection::PATH),
            Page,
            ui::collection::page,
        )
        .get(
            "/integration/collection/channels/{name}/mapping",
            MANAGER,
            Page,
            ui::mapping::show,
        )
        .post(
            "/integration/collection/channels/{name}/mapping",
            MANAGER,
            Page,
            ui::mapping::submit,
        )
        .post(
            ui::upload::PATH,
            nav::policy_of(ui::collection::PATH),
            Page,
            ui::upload::upload,
        )
        .post(
            "/integration/collection/channels/{name}/{action}",
            MANAGER,
            Page,
            ui::collection::channel_action,
        )
        .get(
            ui::monitoring::PATH,
            nav::policy_of(ui::monitoring::PATH),
            Page,
            ui::monitoring::page,
        )
        .get(
            ui::quarantine::PATH,
            nav::policy_of(ui::quarantine::PATH),
            Page,
            ui::quarantine::page,
        )
        .post(
            "/integration/monitoring/alerts/{id}/{action}",
            MANAGER,
            Page,
            ui::monitoring::alert_action,
        )
        // Quality control: the report and its details for managers and (own institution)
        // providers; runs and rules for managers; tickets for both, each action checked again
        // against the ticket.
        .get(
            ui::quality::PATH,
            nav::policy_of(ui::quality::PATH),
            Page,
            ui::quality::page,
        )
        .get(
            ui::quality::failures::PATH,
            nav::policy_of(ui::quality::PATH),
            Page,
            ui::quality::failures::page,
        )
        .get(
            "/integration/quality/report.csv",
            nav::policy_of(ui::quality::PATH),
            Page,
            ui::quality::report::csv,
        )
        .get(
            "/integration/quality/report.xlsx",
            nav::policy_of(ui::quality::PATH),
            Page,
            ui::quality::report::xlsx,
        )
        .get(
            "/integration/quality/report/print",
            nav::policy_of(ui::quality::PATH),
            Page,
            ui::quality::report::print,
        )
        .post(
            "/integration/quality/run",
            MANAGER,
            Page,
            ui::quality::run_now,
        )
        .get(
            ui::quality::rules::PATH,
            MANAGER,
            Page,
            ui::quality::rules::page,
        )
        .post(
            ui::quality::rules::PATH,
            MANAGER,
            Page,
            ui::quality::rules::save,
        )
        .post(
            "/integration/quality/rules/{id}/{action}",
            MANAGER,
            Page,
            ui::quality::rules::toggle,
        )
        .get(
            ui::quality::tickets::PATH,
            nav::policy_of(ui::quality::PATH),
            Page,
            ui::quality::tickets::page,
        )
        .post(
            "/integration/quality/tickets/{id}/{action}",
            nav::policy_of(ui::quality::PATH),
            Page,
            ui::quality::tickets::act,
        );
    // Sections this version does not provide yet: a plain page that says so.
    for s in nav::SECTIONS.iter().filter(|s| !s.built) {
        r = r.get(s.path, s.policy, Page, ui::home::not_built);
    }
    r
}

/// The whole application: routes, the authorisation guard and the common layers.
pub fn router(state: AppState) -> Router {
    let (router, table) = routes().into_parts();
    guarded(router, table, state)
}

/// Puts `router` behind the guard that enforces `table`, then adds the common layers.
pub fn guarded(router: Router<AppState>, table: policy::PolicyTable, state: AppState) -> Router {
    let guard_state = guard::Guard {
        app: state.clone(),
        table: Arc::new(table),
    };
    let router = router
        .route_layer(middleware::from_fn_with_state(guard_state, guard::guard))
        .route_layer(middleware::from_fn_with_state(state.clone(), layers::track))
        .fallback(layers::not_found)
        .with_state(state.clone());
    layers::common(router, &state.config)
}

/// Serves the application on `listener` until `shutdown` completes.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
