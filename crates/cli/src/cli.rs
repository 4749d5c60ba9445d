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
    /// Source connections, defined once and shared by channels (passwords sealed at rest).
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// Collection channels kept in the metadata store and run by workers.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Link monitoring: reconciliation, alerts.
    #[command(subcommand)]
    Monitor(MonitorCommand),
    /// Quality control: runs, rules, code tables, scores and rectification tickets.
    #[command(subcommand)]
    Quality(QualityCommand),
    /// Run the channels this worker can lease, until Ctrl-C or SIGTERM. Several workers may
    /// share one PostgreSQL metadata store; when one dies, the others take its channels over.
    Worker(WorkerArgs),
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
    /// Generate a synthetic region: one HIS database per institution in its vendor's schema,
    /// optional HL7 v2 and FHIR files, and a ground-truth manifest of injected defects.
    Synth(SynthArgs),
    /// Collect from hospital systems into the lake.
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// Measure a capability end to end; prints one JSON line per figure.
    Bench {
        name: BenchName,
        /// How many operations each figure measures.
        #[arg(long, default_value_t = 10_000)]
        rows: u64,
        /// The PostgreSQL server the `cdc` figure writes to and streams from (it creates the
        /// schema `hdos_bench_cdc` there).
        #[arg(long, env = "HDOS_SOURCE_POSTGRES", hide_env_values = true)]
        postgres: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BenchName {
    /// Audit appends and verification, session lookups, on the configured metadata store.
    Store,
    /// Synthetic-region generation to SQLite; `--rows` is the number of patients.
    Synth,
    /// SQL batch collection of one hospital's outpatient-visit table (about `--rows` rows,
    /// mapping included) from its SQLite HIS into the std zone; the region is kept under
    /// `<data dir>/bench-ingest` for the DuckDB run of `bench/ingest_vs_duckdb.sh`.
    Ingest,
    /// Quality control: the default rule set over an outpatient-visit std table of `--rows`
    /// rows in one run; the Parquet files stay under `<data dir>/bench-quality` for the peers of
    /// `bench/quality_vs_peers.sh`.
    Quality,
    /// HL7 v2 over MLLP on loopback: `--rows` messages from a generated region, sent over 1 and
    /// over 8 connections, each waiting for its ACK (stored before it is sent).
    Mllp,
    /// Log-based collection from PostgreSQL: commit-at-source to visible-in-lake latency while
    /// `--rows` changes are written at 1,000 and at 5,000 changes/s (`--postgres` names the
    /// server).
    Cdc,
    /// Worker failover: three `hdos worker` processes on a PostgreSQL metadata store (a database
    /// `hdos_bench_failover` on `--postgres`) run a CDC channel over a `--rows`-row table while a
    /// writer adds rows; five times the lease holder is killed with SIGKILL, and the seconds to
    /// the takeover and to the next commit are measured.
    Failover,
    /// FHIR R4 over HTTP on loopback: `--rows` transaction Bundles (one outpatient visit of five
    /// resources each) posted by a provider's API token over 1 and over 8 connections.
    Fhir,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SynthArgs {
    #[command(subcommand)]
    pub command: Option<SynthCommand>,
    #[command(flatten)]
    pub generate: GenerateArgs,
}

#[derive(Debug, Subcommand)]
pub enum SynthCommand {
    /// Keep applying live changes (visits, patient updates, cancellations) to one institution's
    /// HIS database, or send them as HL7 messages to an MLLP endpoint, at a steady rate.
    Stream(StreamArgs),
}

#[derive(Debug, Args)]
pub struct StreamArgs {
    /// A region generated by `hdos synth`.
    #[arg(long, default_value = "synth-region")]
    pub region: PathBuf,
    /// Institution code (default: the region's first institution).
    #[arg(long)]
    pub institution: Option<String>,
    /// Events per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Stop after this many events (default: run until Ctrl-C or --seconds).
    #[arg(long)]
    pub events: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Send HL7 v2 messages to this MLLP endpoint (host:port) instead of writing a database.
    #[arg(long)]
    pub mllp: Option<String>,
    /// Write to the institution's schema in this PostgreSQL database (loaded by
    /// `hdos synth --postgres`) instead of its SQLite file.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Seed of the stream's choices between visits, updates and cancellations.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of people (each registered as a patient at one or more institutions).
    #[arg(long, default_value_t = 10_000)]
    pub patients: u64,
    /// Institutions: a total (split about 1 : 3 : 6 into tertiary, secondary, primary care) or
    /// three counts `tertiary,secondary,primary`.
    #[arg(long, default_value = "3,8,20")]
    pub institutions: String,
    /// Years of history, ending the day before `--until`.
    #[arg(long, default_value_t = 2)]
    pub years: u32,
    /// First day after the generated period (YYYY-MM-DD).
    #[arg(long, default_value = "2026-01-01")]
    pub until: String,
    /// Random seed: the same seed and options give byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Defects: clean, light (0.2 % per kind), heavy (2 %), a rate, or kind=rate,kind=rate.
    #[arg(long, default_value = "clean")]
    pub defects: String,
    /// Also write HL7 v2.5 and FHIR R4 files for the same events.
    #[arg(long)]
    pub messages: bool,
    /// Output directory; must be absent or empty unless --force.
    #[arg(long, default_value = "synth-region")]
    pub out: PathBuf,
    /// Remove the output directory first.
    #[arg(long)]
    pub force: bool,
    /// Also load the first `--postgres-institutions` HIS databases into this PostgreSQL
    /// database, one schema `his_<code>` each, for log-based collection.
    #[arg(long)]
    pub postgres: Option<String>,
    /// How many institutions (from the first) `--postgres` loads.
    #[arg(long, default_value_t = 1)]
    pub postgres_institutions: usize,
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
    /// Set the e-mail address notifications are sent to (empty to remove it).
    Email { username: String, address: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and name the first entry that was changed, deleted or reordered.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum ConnectionCommand {
    /// Define a PostgreSQL source (or redefine the one of this name). The password is read from
    /// the environment variable named by `--password-env`, never from the command line, and
    /// stored sealed with the master key.
    Add {
        #[arg(long)]
        name: String,
        /// The institution whose system this is.
        #[arg(long)]
        institution: String,
        /// The kind of database.
        #[arg(long, value_enum, default_value_t = ConnectionKind::Postgres)]
        kind: ConnectionKind,
        #[arg(long)]
        host: String,
        /// Default: 5432 for PostgreSQL, 3306 for MySQL.
        #[arg(long)]
        port: Option<u16>,
        #[arg(long)]
        database: String,
        #[arg(long)]
        user: String,
        /// The schema that holds the HIS tables (PostgreSQL; default `public`). A MySQL
        /// database is its own schema.
        #[arg(long)]
        schema: Option<String>,
        #[arg(long, default_value = "HDOS_SOURCE_PASSWORD")]
        password_env: String,
    },
    /// The defined connections, without their passwords.
    List {
        /// Only this institution's.
        #[arg(long)]
        institution: Option<String>,
    },
    /// Connect and list the schema's tables.
    Test {
        name: String,
    },
    Remove {
        name: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConnectionKind {
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

impl ConnectionKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Self::Postgres => 5432,
            Self::Mysql => 3306,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChannelKind {
    /// Query-based batch collection from a SQLite file or a stored connection.
    Sql,
    /// Log-based collection from PostgreSQL through a stored connection.
    Cdc,
    /// Data files dropped (or uploaded) into a folder: CSV, JSON lines, Parquet.
    Folder,
    /// HL7 v2 messages over MLLP.
    Mllp,
}

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Define a channel (or redefine the one of this name). SQL and CDC channels store the
    /// mappings of `--mapping`, or the suggested ones, which `channel show` prints.
    Add(Box<ChannelAddArgs>),
    /// The channels, one JSON line each, with schedule, requests and last error.
    List {
        /// Only this institution's.
        #[arg(long)]
        institution: Option<String>,
    },
    /// One channel's definition with its mappings, as JSON.
    Show {
        name: String,
    },
    /// Ask for a run now (a batch channel; a worker picks it up within a second).
    Run {
        name: String,
    },
    /// Stop the current run (a streaming channel restarts; disable it to keep it stopped).
    Cancel {
        name: String,
    },
    Enable {
        name: String,
    },
    Disable {
        name: String,
    },
    /// Remove the channel; what it collected, its positions and its run history stay.
    Remove {
        name: String,
    },
    /// The workers seen in the last minute and the leases they hold.
    Status,
}

#[derive(Debug, Args)]
pub struct ChannelAddArgs {
    #[arg(long)]
    pub name: String,
    /// The institution whose data it collects.
    #[arg(long)]
    pub institution: String,
    #[arg(long, value_enum)]
    pub kind: ChannelKind,
    /// A SQLite HIS database file (sql).
    #[arg(long, conflicts_with = "connection")]
    pub sqlite: Option<PathBuf>,
    /// A stored connection (sql, cdc).
    #[arg(long)]
    pub connection: Option<String>,
    #[command(flatten)]
    pub tables: TableSelection,
    /// The folder to watch (folder); files are moved to `done/` once collected.
    #[arg(long)]
    pub folder: Option<PathBuf>,
    /// The address to listen on (mllp), e.g. 0.0.0.0:2575.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Message mappings (mllp; TOML as `hdos ingest hl7-mapping` prints; default built-in).
    #[arg(long)]
    pub hl7_mapping: Option<PathBuf>,
    /// When a batch channel runs: five cron fields in China Standard Time, e.g.
    /// "*/15 * * * *" or "30 2 * * *". Without it, it runs on `channel run`.
    #[arg(long)]
    pub schedule: Option<String>,
    /// Define it without running it.
    #[arg(long)]
    pub disabled: bool,
}

#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// One monitoring pass now over every channel: failed runs, runs that read nothing, hourly
    /// and daily volume, and reconciliation of SQL, CDC and MLLP channels; prints the open alerts.
    Check,
    /// Reconcile one SQL, CDC or MLLP channel against its source now: one JSON line per dataset
    /// and day (source rows, lake rows, refused rows, key checksums); a gap raises an alert.
    Reconcile { channel: String },
    /// The alerts, newest first, one JSON line each: unresolved ones, or all with `--all`.
    Alerts {
        #[arg(long)]
        all: bool,
        /// Only this institution's.
        #[arg(long)]
        institution: Option<String>,
    },
    /// Acknowledge an alert: someone is on it.
    Ack { id: i64 },
    /// Resolve an alert by hand (monitoring resolves those whose problem it no longer sees).
    Resolve { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum QualityCommand {
    /// Check what arrived since the last run (or everything with `--full`) against the enabled
    /// rules; prints the run, then one JSON line per failing rule and institution.
    Run {
        #[arg(long)]
        full: bool,
        /// Only this dataset (repeatable).
        #[arg(long)]
        dataset: Vec<String>,
    },
    /// The rules, one JSON line each (id, version, enabled, definition).
    Rules,
    /// Add or change a rule from a JSON file (validated against the standard first); a changed
    /// rule gets a new version, and results keep the version they were computed with.
    SaveRule {
        file: std::path::PathBuf,
        /// Save it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Enable or disable a rule.
    Enable {
        id: String,
    },
    Disable {
        id: String,
    },
    /// Load the region's ICD-10 dictionary (CSV `code,label`); ICD-10 rules then also check
    /// membership.
    ImportIcd10 {
        file: std::path::PathBuf,
    },
    /// Scores per institution (best first) over the last `--days` days, one JSON line each.
    Scores {
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
    /// Rectification tickets, one JSON line each: open ones, or all with `--all`.
    Tickets {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        institution: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The worker's name among those sharing the store (default: host-pid).
    #[arg(long)]
    pub id: Option<String>,
}

/// Which tables of a HIS are collected, and how they map to the standard.
#[derive(Debug, Args)]
pub struct TableSelection {
    /// Confirmed mappings (TOML with `[[tables]]`, as `suggest` prints); without it the
    /// suggested mappings are used.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Only these tables (default: every table with a mapping).
    #[arg(long)]
    pub table: Vec<String>,
}

/// A HIS database: a SQLite file, or a schema of a PostgreSQL database (a stored connection, or
/// a URL and a schema).
#[derive(Debug, Args)]
pub struct DbSource {
    /// A SQLite HIS database file.
    #[arg(long, conflicts_with_all = ["postgres", "connection"])]
    pub sqlite: Option<PathBuf>,
    /// A stored connection (`hdos connection add`).
    #[arg(long, conflicts_with = "postgres")]
    pub connection: Option<String>,
    /// A PostgreSQL HIS, postgres://user:password@host:port/database; better given in the
    /// environment, to keep the password out of the shell's history.
    #[arg(
        long,
        env = "HDOS_SOURCE_POSTGRES",
        hide_env_values = true,
        requires = "schema"
    )]
    pub postgres: Option<String>,
    /// The PostgreSQL schema that holds the HIS tables.
    #[arg(long)]
    pub schema: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum IngestCommand {
    /// Suggest how each table of a HIS (SQLite or PostgreSQL) maps onto the standard; prints the
    /// mappings as TOML to confirm or edit (or JSON with the reasons, with `--json`).
    Suggest {
        #[command(flatten)]
        db: DbSource,
        /// A data file instead (CSV, JSON lines or Parquet), which is one table.
        #[arg(long, conflicts_with_all = ["sqlite", "postgres"])]
        file: Option<PathBuf>,
        /// Only this table (default: every table).
        #[arg(long)]
        table: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Collect tables of a HIS (SQLite or PostgreSQL) into the lake: incrementally after the
    /// last run, or all again with `--full`.
    Run {
        #[command(flatten)]
        db: DbSource,
        /// The institution's unified social credit code, stamped on every row.
        #[arg(long)]
        institution: String,
        /// The channel's name (default: `his_` and the institution code).
        #[arg(long)]
        channel: Option<String>,
        #[command(flatten)]
        tables: TableSelection,
        #[arg(long)]
        full: bool,
        #[arg(long, default_value_t = hdos_ingest::batch::DEFAULT_CHUNK_ROWS)]
        chunk_rows: usize,
    },
    /// Collect a data file (CSV in UTF-8, GBK or GB 18030; JSON lines; Parquet) into the lake as
    /// one table: later runs read only records appended since.
    File {
        /// The file; its name without the extension names the table.
        path: PathBuf,
        #[arg(long)]
        institution: String,
        /// The channel's name (default: `file_` and the institution code).
        #[arg(long)]
        channel: Option<String>,
        /// A confirmed mapping (TOML with one `[[tables]]`, as `suggest --file` prints).
        #[arg(long)]
        mapping: Option<PathBuf>,
        #[arg(long)]
        full: bool,
    },
    /// Stream changes from a PostgreSQL HIS (log-based, pgoutput) until Ctrl-C: hdos creates the
    /// publication and the replication slot, reads the tables whole once, then lands every
    /// insert, update and delete. The source needs `wal_level = logical` and a user with the
    /// REPLICATION attribute.
    Cdc {
        /// A stored connection, or `--postgres` with `--schema`.
        #[command(flatten)]
        db: DbSource,
        /// The institution's unified social credit code, stamped on every row.
        #[arg(long)]
        institution: String,
        /// The channel's name (default: `cdc_` and the institution code); it names the slot.
        #[arg(long)]
        channel: Option<String>,
        #[command(flatten)]
        tables: TableSelection,
    },
    /// Receive HL7 v2 messages over MLLP for one institution until Ctrl-C: each message is
    /// stored before its ACK, then landed in the lake.
    Mllp {
        /// The institution's unified social credit code; MSH-4 must carry it.
        #[arg(long)]
        institution: String,
        #[arg(long, default_value = "127.0.0.1:2575")]
        listen: std::net::SocketAddr,
        /// The channel's name (default: `hl7_` and the institution code).
        #[arg(long)]
        channel: Option<String>,
        /// Message mappings (TOML, as `hl7-mapping` prints); default: the built-in ones.
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Longer messages are refused (AR) and quarantined.
        #[arg(long, default_value_t = 1024 * 1024)]
        max_bytes: usize,
    },
    /// Send a file of HL7 v2 messages (one per line) to an MLLP endpoint, each waiting for its
    /// ACK, as a hospital's interface engine does.
    SendHl7 {
        #[arg(long)]
        to: std::net::SocketAddr,
        file: PathBuf,
        /// Parallel connections.
        #[arg(long, default_value_t = 1)]
        connections: usize,
    },
    /// Print the built-in HL7 v2.5 message mappings, to copy and edit.
    Hl7Mapping,
    /// Recent runs, newest first.
    Runs {
        #[arg(long)]
        channel: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
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
