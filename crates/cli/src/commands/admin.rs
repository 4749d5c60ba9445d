//! Administration from the shell: init, migrate, accounts and the audit chain. Every change is
//! written to the audit log with the operating-system user as the actor.

use crate::{
    cli::{InitArgs, UserCommand},
    config::Config,
    wiring,
};
use anyhow::{Context, Result, bail};
use hdos_core::Role;
use hdos_store::{MetaStore, NewAuditEntry, NewUser, Outcome, Page, Secret};
use std::process::ExitCode;

/// The audit actor of shell commands.
pub(super) fn cli_actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

pub(super) async fn audit(
    store: &dyn MetaStore,
    action: &str,
    target: &str,
    outcome: Outcome,
) -> Result<()> {
    store
        .append_audit(NewAuditEntry {
            actor_id: None,
            actor_name: cli_actor(),
            action: action.into(),
            target: target.into(),
            outcome,
            ip: "local".into(),
            detail: serde_json::json!({}),
        })
        .await?;
    Ok(())
}

/// A password of 20 random URL-safe characters.
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

pub async fn init(cfg: &Config, args: InitArgs) -> Result<ExitCode> {
    wiring::ensure_data_dir(&cfg.data_dir)?;
    let key_path = cfg.master_key_path();
    wiring::master_key(cfg)?;
    let store = wiring::open_store(cfg).await?;
    let lake = wiring::open_lake(cfg)?;
    lake.check_writable()
        .await
        .context("the lake is not writable")?;
    println!("data directory: {}", cfg.data_dir.display());
    println!("master key:     {} (mode 0600)", key_path.display());
    println!(
        "metadata store: {}",
        hdos_store::redact_url(&cfg.store_url())
    );
    println!("lake:           {}", lake.root());
    if store.user_by_name(&args.admin_username).await?.is_some() {
        println!(
            "administrator `{}` already exists; nothing else to do",
            args.admin_username
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (password, generated) = match args.admin_password {
        Some(p) => (p, false),
        None => (generate_password(), true),
    };
    store
        .create_user(NewUser {
            username: args.admin_username.clone(),
            display_name: "Administrator".into(),
            password: Secret::new(password.clone()),
            roles: vec![Role::Admin],
            institution_id: None,
            must_change_password: generated,
        })
        .await?;
    audit(
        store.as_ref(),
        "user.create",
        &args.admin_username,
        Outcome::Success,
    )
    .await?;
    if generated {
        println!(
            "administrator `{}` created with password {password} (shown once; change it at first login)",
            args.admin_username
        );
    } else {
        println!("administrator `{}` created", args.admin_username);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn migrate(cfg: &Config) -> Result<ExitCode> {
    // Opening the store applies pending migrations.
    wiring::open_store(cfg).await?;
    println!(
        "migrations applied: {}",
        hdos_store::redact_url(&cfg.store_url())
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn user(cfg: &Config, cmd: UserCommand) -> Result<ExitCode> {
    let store = wiring::open_store(cfg).await?;
    match cmd {
        UserCommand::Add {
            username,
            display_name,
            roles,
            institution,
            password,
        } => {
            let roles = roles
                .iter()
                .map(|r| r.parse::<Role>())
                .collect::<Result<Vec<_>, _>>()?;
            let institution_id = match institution {
                Some(code) => Some(find_institution(store.as_ref(), &code).await?),
                None => None,
            };
            let result = store
                .create_user(NewUser {
                    display_name: display_name.unwrap_or_else(|| username.clone()),
                    username: username.clone(),
                    password: Secret::new(password),
                    roles,
                    institution_id,
                    must_change_password: true,
                })
                .await;
            let outcome = if result.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            audit(store.as_ref(), "user.create", &username, outcome).await?;
            let user = result?;
            println!("created user `{}` (id {})", user.username, user.id);
        }
        UserCommand::List => {
            println!(
                "{:<6} {:<20} {:<24} {:<20} status",
                "id", "username", "name", "roles"
            );
            let mut offset = 0;
            loop {
                let page = store.list_users(Page::new(Page::MAX_LIMIT, offset)).await?;
                for u in &page {
                    let roles: Vec<_> = u.roles.iter().map(|r| r.as_str()).collect();
                    println!(
                        "{:<6} {:<20} {:<24} {:<20} {}",
                        u.id.0,
                        u.username,
                        u.display_name,
                        roles.join(","),
                        if u.disabled { "disabled" } else { "active" }
                    );
                }
                if (page.len() as i64) < Page::MAX_LIMIT {
                    break;
                }
                offset += Page::MAX_LIMIT;
            }
        }
        UserCommand::Disable { username } => {
            let Some(user) = store.user_by_name(&username).await? else {
                bail!("no user named `{username}`");
            };
            store.set_disabled(user.id, true).await?;
            audit(store.as_ref(), "user.disable", &username, Outcome::Success).await?;
            println!("disabled `{username}`; all their sessions have ended");
        }
        UserCommand::Email { username, address } => {
            let Some(user) = store.user_by_name(&username).await? else {
                bail!("no user named `{username}`");
            };
            let address = address.trim();
            let plausible = address.contains('@')
                && !address
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>,;".contains(c));
            if !address.is_empty() && !plausible {
                bail!("`{address}` is not an e-mail address");
            }
            let email = Some(address).filter(|a| !a.is_empty());
            store.set_user_email(user.id, email).await?;
            audit(store.as_ref(), "user.email", &username, Outcome::Success).await?;
            println!(
                "notifications for `{username}` go to {}",
                email.unwrap_or("the app only")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn find_institution(store: &dyn MetaStore, code: &str) -> Result<hdos_core::InstitutionId> {
    match store.institution_by_code(code).await? {
        Some(i) => Ok(i.id),
        None => bail!("no institution with code `{code}`"),
    }
}

/// Exit 0 when the chain is intact, 1 when it is broken (naming the first bad entry).
pub async fn audit_verify(cfg: &Config) -> Result<ExitCode> {
    let store = wiring::open_store(cfg).await?;
    let status = store.verify_audit_chain().await?;
    match status.problem {
        None => {
            println!(
                "audit chain intact: {} entries checked",
                status.entries_checked
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(p) => {
            println!(
                "audit chain BROKEN at entry {}: {p} ({} entries checked before it)",
                p.seq(),
                status.entries_checked.saturating_sub(1)
            );
            Ok(ExitCode::from(1))
        }
    }
}
