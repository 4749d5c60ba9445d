//! The platform's sections, by the paper's structure. Each section's policy is the policy of its
//! route, so the navigation a role sees is exactly what it may open.

use crate::{i18n::T, policy::Policy};
use hdos_core::Role::{self, Admin, Auditor, Manager, Provider, User};

#[derive(Debug, Clone, Copy)]
pub struct Section {
    /// Translation key of the label.
    pub label: &'static str,
    pub path: &'static str,
    /// Translation key of the group heading.
    pub group: &'static str,
    pub policy: Policy,
    /// Whether the section has real pages in this version.
    pub built: bool,
}

const fn section(
    group: &'static str,
    label: &'static str,
    path: &'static str,
    roles: &'static [Role],
    built: bool,
) -> Section {
    Section {
        label,
        path,
        group,
        policy: Policy::roles(roles),
        built,
    }
}

pub const SECTIONS: &[Section] = &[
    section(
        "nav.integration",
        "nav.collection",
        "/integration/collection",
        &[Manager, Provider],
        true,
    ),
    section(
        "nav.integration",
        "nav.monitoring",
        "/integration/monitoring",
        &[Manager, Provider],
        true,
    ),
    section(
        "nav.integration",
        "nav.quarantine",
        "/integration/quarantine",
        &[Manager, Provider],
        true,
    ),
    section(
        "nav.integration",
        "nav.quality",
        "/integration/quality",
        &[Manager, Provider],
        true,
    ),
    section(
        "nav.assets",
        "nav.catalog",
        "/assets/catalog",
        &[Manager],
        false,
    ),
    section(
        "nav.assets",
        "nav.classification",
        "/assets/classification",
        &[Manager],
        false,
    ),
    section(
        "nav.assets",
        "nav.recognition",
        "/assets/recognition",
        &[Manager],
        false,
    ),
    section(
        "nav.assets",
        "nav.products",
        "/assets/products",
        &[Manager],
        false,
    ),
    section(
        "nav.market",
        "nav.market",
        "/market",
        &[Manager, User],
        false,
    ),
    section(
        "nav.applications",
        "nav.applications",
        "/applications",
        &[Manager, User],
        false,
    ),
    section(
        "nav.analysis",
        "nav.analysis",
        "/analysis",
        &[Manager, User],
        false,
    ),
    section("nav.sandbox", "nav.sandbox", "/sandbox", &[User], false),
    section("nav.audit", "nav.audit", "/audit", &[Auditor], true),
    section("nav.admin", "nav.users", "/admin/users", &[Admin], true),
    section(
        "nav.admin",
        "nav.institutions",
        "/admin/institutions",
        &[Admin],
        true,
    ),
    section("nav.admin", "nav.tokens", "/admin/tokens", &[Admin], true),
];

pub fn section_at(path: &str) -> Option<&'static Section> {
    SECTIONS.iter().find(|s| s.path == path)
}

/// The policy of a built section's pages.
pub fn policy_of(path: &str) -> Policy {
    section_at(path)
        .map(|s| s.policy)
        // Unknown paths are not sections; deny everyone rather than guess.
        .unwrap_or(Policy::roles(&[]))
}

#[derive(Debug, Clone)]
pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct NavGroup {
    pub title: &'static str,
    pub items: Vec<NavItem>,
}

/// The groups and items `roles` may open, in the paper's order, translated.
pub fn for_roles(t: T, roles: &[Role], current: &str) -> Vec<NavGroup> {
    let mut groups: Vec<NavGroup> = Vec::new();
    for s in SECTIONS.iter().filter(|s| s.policy.allows(roles)) {
        let item = NavItem {
            label: t.get(s.label),
            href: s.path,
            active: current.starts_with(s.path),
        };
        let title = t.get(s.group);
        match groups.last_mut() {
            Some(g) if g.title == title => g.items.push(item),
            _ => groups.push(NavGroup {
                title,
                items: vec![item],
            }),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn each_role_sees_its_own_sections() {
        let t = T::new(Lang::Zh);
        let labels = |r: Role| -> Vec<&str> {
            for_roles(t, &[r], "/")
                .into_iter()
                .flat_map(|g| g.items)
                .map(|i| i.href)
                .collect()
        };
        assert_eq!(
            labels(Admin),
            ["/admin/users", "/admin/institutions", "/admin/tokens"]
        );
        assert_eq!(labels(Auditor), ["/audit"]);
        assert!(labels(User).contains(&"/sandbox"));
        assert!(!labels(Provider).contains(&"/assets/catalog"));
        assert!(labels(Manager).contains(&"/assets/catalog"));
    }
}
