//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "hdos",
    version,
    about = "Regional health-data open-sharing platform"
)]
pub struct Cli {
    /// Configuration file (default: ./hdos.toml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (overrides data_dir).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Metadata store URL (overrides store.url).
    #[arg(long, global = true)]
    pub store_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the data directory, master key and schema, and the first administrator.
    Init(InitArgs),
    /// Serve the web UI and the API.
    Serve(ServeArgs),
    /// Apply pending schema migrations.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The regional data standard.
    #[command(subcommand)]
    Standard(StandardCommand),
    /// Run the whole platform on a fresh demo data dir with one account per role.
    Demo(ServeArgs),
    /// Measure a capability end to end; prints one JSON line per figure.
    Bench {
        name: BenchName,
        /// How many operations each figure measures.
        #[arg(long, default_value_t = 10_000)]
        rows: u64,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BenchName {
    /// Audit appends and verification, session lookups, on the configured metadata store.
    Store,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Username of the first administrator.
    #[arg(long, default_value = "admin")]
    pub admin_username: String,
    /// Password of the first administrator (default: generated and printed once).
    #[arg(long, env = "HDOS_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides server.listen).
    #[arg(long)]
    pub listen: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        /// admin, manager, provider, user or auditor; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Institution code (unified social credit code), required for providers.
        #[arg(long)]
        institution: Option<String>,
        /// Initial password; the user must change it at first login.
        #[arg(long, env = "HDOS_USER_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// List accounts.
    List,
    /// Disable an account and end all its sessions.
    Disable { username: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and name the first entry that was changed, deleted or reordered.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum StandardCommand {
    /// List the datasets of the standard in force.
    Show {
        /// A TOML file that adds datasets or fields to the built-in standard.
        #[arg(long)]
        extension: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration with secrets redacted.
    Show,
}
