//! The `ferrobase` command: `serve` (the default), `migrate`, `config`, `admin create`,
//! `outbox list` and `outbox retry`.

use clap::{Parser, Subcommand};
use platform::config::Config;

#[derive(Parser)]
#[command(
    name = "ferrobase",
    version,
    about = "One backend for accounts, chat, work, ticketing, freelance and studio apps",
    after_help = "\
Settings come from FERROBASE_* environment variables, which win over an optional ferrobase.toml
in the working directory (or the file FERROBASE_CONFIG names; its keys are the variables' names
in lower case without the prefix). `ferrobase config` prints every setting and its value.

With no settings the server runs on the embedded database and keeps everything in ./data
(FERROBASE_DATA_DIR): the SQLite database, stored files, the mail and SMS it would send (read
verification codes there), and its generated token signing secret. README.md lists every
setting."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective configuration, secrets hidden.
    Config,
    /// Ask the server at `FERROBASE_BIND` on this machine whether it is ready
    /// (`/health/ready`): exit 0 if it answers 200, 1 otherwise. For container health checks,
    /// whose images carry no HTTP client.
    Health,
    /// Copy the embedded database (a consistent copy, taken while the server runs), the stored
    /// files and the generated signing secret into PATH, a new directory. PostgreSQL and S3
    /// are backed up with their own tools (README "Deploy").
    Backup {
        /// A directory that does not exist yet (or is empty).
        path: std::path::PathBuf,
    },
    /// Replace the embedded database, stored files and signing secret with a backup made by
    /// `backup`. Stop the server first; what is replaced is kept beside it as
    /// `<name>.before-restore-<time>`.
    Restore {
        /// The backup's directory.
        path: std::path::PathBuf,
    },
    /// Administration tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Side effects and domain events waiting for delivery.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// List rows (parked ones by default: those that failed their last attempt).
    List {
        /// `parked` or `pending`.
        #[arg(long, default_value = "parked", value_parser = ["parked", "pending"])]
        status: String,
        /// At most this many, oldest first.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Send a parked row back for delivery with a fresh count of attempts.
    Retry {
        /// The row's id (from `outbox list`).
        id: uuid::Uuid,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account, or promote an existing one (and set its password).
    Create {
        /// Email address.
        #[arg(long)]
        email: String,
        /// Password (10–128 characters).
        #[arg(long, env = "FERROBASE_ADMIN_PASSWORD")]
        password: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::housekeeping::map_large_blocks();
    let cli = Cli::parse();
    let mut config = Config::load()?;
    platform::logging::init(&config);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            // The embedded database is this process's alone while it serves (a restore refuses).
            let _lock = platform::backup::DataDirLock::for_serving(&config)?;
            if let Some(warning) = config.public_url_warning() {
                tracing::warn!("{warning}");
            }
            if let Err(e) = platform::housekeeping::raise_open_files() {
                tracing::warn!(error = %e, "could not raise the open-file limit");
            }
            let bind = config.bind;
            let app = ferrobase::build(config).await?;
            let listener = platform::listen(bind).await?;
            tracing::info!(address = %listener.local_addr()?, "ferrobase ready");
            ferrobase::run(app, listener, ferrobase::shutdown_signal()).await?;
        }
        Command::Migrate => {
            ferrobase::build(config).await?;
            println!("migrations applied");
        }
        Command::Health => {
            if let Err(problem) = ferrobase::probe_ready(config.bind, std::time::Duration::from_secs(3)) {
                eprintln!("not ready: {problem}");
                std::process::exit(1);
            }
            println!("ready");
        }
        Command::Backup { path } => {
            let manifest = platform::backup::backup(&config, &path).await?;
            println!(
                "backup written to {}: the database as of {}, {} files ({} bytes){}",
                path.display(),
                manifest.taken_at,
                manifest.files,
                manifest.file_bytes,
                if manifest.signing_secret { ", the signing secret" } else { "" }
            );
        }
        Command::Restore { path } => {
            let restored = platform::backup::restore(&config, &path, &ferrobase::migrations()).await?;
            println!("restored the backup taken at {}", restored.manifest.taken_at);
            for aside in restored.set_aside {
                println!("what it replaced: {}", aside.display());
            }
        }
        Command::Config => {
            platform::module::check_settings(&mut config, ferrobase::MODULES)?;
            print!("{}{}", config.describe(), platform::module::describe_settings(&config, ferrobase::MODULES));
        }
        Command::Outbox { command } => {
            let app = ferrobase::build(config).await?;
            match command {
                OutboxCommand::List { status, limit } => {
                    let rows = platform::outbox::list(&app.platform.db, &status, limit.clamp(1, 10_000)).await?;
                    for row in &rows {
                        let error = row.last_error.as_deref().unwrap_or("-").replace('\n', " ");
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{error}",
                            row.id,
                            row.kind,
                            row.status,
                            row.attempts,
                            row.created_at.to_rfc3339()
                        );
                    }
                    eprintln!("{} {status} row(s)", rows.len());
                }
                OutboxCommand::Retry { id } => {
                    anyhow::ensure!(
                        platform::outbox::retry(&app.platform.db, id).await?,
                        "no parked row has the id {id}"
                    );
                    println!("{id} will be delivered again");
                }
            }
        }
        Command::Admin { command: AdminCommand::Create { email, password } } => {
            let app = ferrobase::build(config).await?;
            let user = app.accounts.create_admin(&email, &password).await.map_err(|e| {
                let problem = platform::ApiError::from(e).problem();
                let fields: Vec<String> = problem.errors.iter().map(|f| format!("{} {}", f.field, f.message)).collect();
                anyhow::anyhow!("{} {}", problem.detail, fields.join("; "))
            })?;
            println!("admin ready: {} ({})", user.email.unwrap_or_default(), user.id);
        }
    }
    Ok(())
}
