//! `hdos demo`: the whole platform on a fresh data dir, with one account per role.

use super::serve;
use crate::{config::Config, wiring};
use anyhow::Result;
use hdos_core::Role;
use hdos_store::{MetaStore, NewAuditEntry, NewInstitution, NewUser, Outcome, Secret};
use std::process::ExitCode;

/// Demo institutions: fictitious names and codes under Hangzhou's region codes.
const INSTITUTIONS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "12330000DEMO00001A",
        "示范省人民医院（演示）",
        "三级",
        "综合医院",
        "330106",
    ),
    (
        "12330100DEMO00002B",
        "示范市中医院（演示）",
        "二级",
        "中医医院",
        "330105",
    ),
    (
        "12330100DEMO00003C",
        "示范街道社区卫生服务中心（演示）",
        "一级",
        "社区卫生服务中心",
        "330102",
    ),
];

/// One account per role; the passwords are documented in the README.
pub const ACCOUNTS: &[(&str, &str, Role, &str)] = &[
    ("admin", "系统管理员", Role::Admin, "demo-admin-2026"),
    (
        "manager",
        "区域数据管理员",
        Role::Manager,
        "demo-manager-2026",
    ),
    (
        "provider",
        "医院数据专员",
        Role::Provider,
        "demo-provider-2026",
    ),
    ("researcher", "科研用户", Role::User, "demo-user-2026"),
    ("auditor", "安全审计员", Role::Auditor, "demo-auditor-2026"),
];

async fn seed(store: &dyn MetaStore) -> Result<()> {
    for (code, name, grade, kind, region) in INSTITUTIONS {
        if store.institution_by_code(code).await?.is_none() {
            store
                .create_institution(NewInstitution {
                    code: (*code).into(),
                    name: (*name).into(),
                    grade: (*grade).into(),
                    kind: (*kind).into(),
                    region_code: (*region).into(),
                })
                .await?;
        }
    }
    let hospital = store
        .institution_by_code(INSTITUTIONS[0].0)
        .await?
        .map(|i| i.id);
    for (username, display, role, password) in ACCOUNTS {
        if store.user_by_name(username).await?.is_some() {
            continue;
        }
        store
            .create_user(NewUser {
                username: (*username).into(),
                display_name: (*display).into(),
                password: Secret::new(*password),
                roles: vec![*role],
                institution_id: if role.is_institution_scoped() {
                    hospital
                } else {
                    None
                },
                must_change_password: false,
            })
            .await?;
        store
            .append_audit(NewAuditEntry {
                actor_id: None,
                actor_name: "demo".into(),
                action: "user.create".into(),
                target: (*username).into(),
                outcome: Outcome::Success,
                ip: "local".into(),
                detail: serde_json::json!({"demo": true}),
            })
            .await?;
    }
    Ok(())
}

pub async fn demo(cfg: &Config) -> Result<ExitCode> {
    wiring::require_loopback(&cfg.server.listen)?;
    let state = serve::state(cfg).await?;
    seed(state.store.as_ref()).await?;
    let url = format!("http://{}/", cfg.server.listen);
    println!();
    println!("hdos demo is running at {url}");
    println!("data directory: {}", cfg.data_dir.display());
    println!();
    println!("  {:<12} {:<20} {:<10}", "username", "password", "role");
    for (username, _, role, password) in ACCOUNTS {
        println!("  {username:<12} {password:<20} {role}");
    }
    println!();
    println!("Press Ctrl-C to stop.");
    serve::run_server(state, &cfg.server.listen).await?;
    Ok(ExitCode::SUCCESS)
}
