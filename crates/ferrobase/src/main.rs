//! The `ferrobase` command: `serve` (the default), `migrate`, `config`, `admin create`.

use clap::{Parser, Subcommand};
use platform::config::Config;

#[derive(Parser)]
#[command(
    name = "ferrobase",
    version,
    about = "One backend for accounts, chat, work, ticketing, freelance and studio apps"
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
    /// Administration tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
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
    let cli = Cli::parse();
    let config = Config::load()?;
    platform::logging::init(&config);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let bind = config.bind;
            let app = ferrobase::build(config).await?;
            let listener = tokio::net::TcpListener::bind(bind).await?;
            tracing::info!(address = %listener.local_addr()?, "ferrobase ready");
            ferrobase::run(app, listener, ferrobase::shutdown_signal()).await?;
        }
        Command::Migrate => {
            ferrobase::build(config).await?;
            println!("migrations applied");
        }
        Command::Config => print!("{}", config.describe()),
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
