//! Authorisation as data: every route is registered together with the policy that guards it,
//! and one guard (see `guard.rs`) enforces the table. A route registered without a policy cannot
//! exist: [`Routes`] is the only way routes are added.

use crate::state::AppState;
use axum::{
    Router,
    handler::Handler,
    http::Method,
    routing::{MethodRouter, delete, get, post, put},
};
use hdos_core::Role;
use std::collections::HashMap;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, logged in or not.
    Public,
    /// Any logged-in account.
    Authenticated,
    /// Accounts holding one of these roles.
    Roles(&'static [Role]),
}

/// For institution-scoped roles (providers): which institution a route's `{id}` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Any,
    /// The route's `{id}` path parameter must be the caller's own institution, unless one of
    /// the caller's allowed roles is not institution-scoped.
    OwnInstitution,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub access: Access,
    pub scope: Scope,
}

impl Policy {
    pub const PUBLIC: Policy = Policy::new(Access::Public);
    pub const AUTHENTICATED: Policy = Policy::new(Access::Authenticated);

    pub const fn new(access: Access) -> Self {
        Self {
            access,
            scope: Scope::Any,
        }
    }

    pub const fn roles(roles: &'static [Role]) -> Self {
        Self::new(Access::Roles(roles))
    }

    pub const fn own_institution(self) -> Self {
        Self {
            access: self.access,
            scope: Scope::OwnInstitution,
        }
    }

    /// Whether an account with `roles` passes the role check (scope aside).
    pub fn allows(&self, roles: &[Role]) -> bool {
        match self.access {
            Access::Public | Access::Authenticated => true,
            Access::Roles(allowed) => roles.iter().any(|r| allowed.contains(r)),
        }
    }

    /// Whether the caller's access rests only on institution-scoped roles.
    pub fn scoped_for(&self, roles: &[Role]) -> bool {
        self.scope == Scope::OwnInstitution
            && !roles
                .iter()
                .any(|r| !r.is_institution_scoped() && self.allows(std::slice::from_ref(r)))
    }
}

/// Whether a route answers with JSON or with pages; it decides how refusals look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Api,
    Page,
}

/// One registered route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub method: Method,
    pub path: &'static str,
    pub policy: Policy,
    pub surface: Surface,
}

pub type PolicyTable = HashMap<(Method, String), RouteEntry>;

/// Builds the router and the policy table together.
#[derive(Debug, Default)]
pub struct Routes {
    router: Router<AppState>,
    entries: Vec<RouteEntry>,
}

impl Routes {
    fn add(
        mut self,
        method: Method,
        path: &'static str,
        policy: Policy,
        surface: Surface,
        route: MethodRouter<AppState>,
    ) -> Self {
        self.entries.push(RouteEntry {
            method,
            path,
            policy,
            surface,
        });
        self.router = self.router.route(path, route);
        self
    }

    pub fn get<H, T>(self, path: &'static str, policy: Policy, surface: Surface, h: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::GET, path, policy, surface, get(h))
    }

    pub fn post<H, T>(self, path: &'static str, policy: Policy, surface: Surface, h: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::POST, path, policy, surface, post(h))
    }

    pub fn put<H, T>(self, path: &'static str, policy: Policy, surface: Surface, h: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::PUT, path, policy, surface, put(h))
    }

    pub fn delete<H, T>(self, path: &'static str, policy: Policy, surface: Surface, h: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::DELETE, path, policy, surface, delete(h))
    }

    pub fn entries(&self) -> &[RouteEntry] {
        &self.entries
    }

    pub fn into_parts(self) -> (Router<AppState>, PolicyTable) {
        let table = self
            .entries
            .into_iter()
            .map(|e| ((e.method.clone(), e.path.to_owned()), e))
            .collect();
        (self.router, table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_access_is_scoped_unless_another_role_grants_it() {
        let p = Policy::roles(&[Role::Admin, Role::Provider]).own_institution();
        assert!(p.scoped_for(&[Role::Provider]));
        assert!(!p.scoped_for(&[Role::Provider, Role::Admin]));
        assert!(!p.allows(&[Role::User]));
    }
}
