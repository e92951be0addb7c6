//! `packyard`: serve, migrate, and administer the registry.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use packyard::settings::Settings;

#[derive(Parser)]
#[command(
    name = "packyard",
    version,
    about = "A self-hosted package registry and pull-through cache"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server.
    Serve {
        /// A TOML settings file (environment variables PACKYARD__SECTION__KEY override it).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Applies pending database migrations.
    Migrate {
        /// A TOML settings file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Creates the administrator if missing and prints a new personal access token (scope api).
    Bootstrap {
        /// The administrator's username.
        #[arg(long)]
        username: String,
        /// A TOML settings file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    match Cli::parse().command {
        Command::Serve { config } => {
            let settings = Settings::load(config.as_deref())?;
            packyard::app::serve(settings).await
        }
        Command::Migrate { config } => {
            let settings = Settings::load(config.as_deref())?;
            packyard::app::build_core(&settings).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Bootstrap { username, config },
        } => {
            let settings = Settings::load(config.as_deref())?;
            let core = packyard::app::build_core(&settings).await?;
            let issued = core
                .bootstrap_admin(&username)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", issued.token);
            Ok(())
        }
    }
}
