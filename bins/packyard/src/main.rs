//! `packyard`: serve, migrate, and administer the registry.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use packyard::settings::{LogFormat, Settings};

#[derive(Parser)]
#[command(
    name = "packyard",
    version,
    about = "A self-hosted package registry and pull-through cache"
)]
struct Cli {
    /// A TOML settings file (environment variables PACKYARD__SECTION__KEY override it).
    #[arg(long, global = true, env = "PACKYARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server.
    Serve,
    /// Applies pending database migrations.
    Migrate,
    /// Administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Prints a completion script for a shell (`packyard completions bash > /etc/bash_completion.d/packyard`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Creates the administrator if missing and prints a new personal access token (scope api).
    Bootstrap {
        /// The administrator's username.
        #[arg(long)]
        username: String,
    },
}

/// Standard error that drops what it cannot write: a log pipe that closes (`packyard serve | head`)
/// must never stop the server, and the log library's own complaint about it would panic.
struct LossyStderr;

impl Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LossyStderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

/// glibc's allocator, tuned for a server that handles documents of megabytes: by default it raises its
/// mmap threshold each time a large block is freed, after which such blocks come from arenas that never
/// give memory back (about 80 MiB kept after publishing a large npm package), in up to 8 arenas a core.
/// Blocks above the threshold are mapped and returned when freed; two arenas serve two workers; up to
/// 8 MiB freed at an arena's top is kept for the next download buffers (trimming at glibc's 128 KiB made
/// every large download fault its 256 KiB buffers in again, a third of its throughput).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_TUNABLES: &str = "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=524288:\
     glibc.malloc.trim_threshold=8388608";

/// Starts this program again with [`MALLOC_TUNABLES`] (same process, same arguments): glibc reads its
/// tunables only at start, and setting them from inside needs `unsafe`. An operator's own
/// `GLIBC_TUNABLES` is left alone; if the program cannot be started again, it carries on as it is.
fn with_allocator_settings() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("GLIBC_TUNABLES").is_none()
        && let Ok(program) = std::env::current_exe()
    {
        use std::os::unix::process::CommandExt;
        let mut arguments = std::env::args_os();
        let mut command = std::process::Command::new(program);
        if let Some(name) = arguments.next() {
            command.arg0(name);
        }
        // Returns only when the program could not be started.
        let _ = command
            .args(arguments)
            .env("GLIBC_TUNABLES", MALLOC_TUNABLES)
            .exec();
    }
}

fn main() -> anyhow::Result<()> {
    with_allocator_settings();
    actix_web::rt::System::new().block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        use clap::CommandFactory;
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "packyard",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    init_logging(settings.log.format);
    match cli.command {
        Command::Serve => packyard::app::serve(settings).await,
        Command::Migrate => {
            packyard::app::build_core(&settings).await?;
            let _ = writeln!(LossyStderr, "migrations applied");
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Bootstrap { username },
        } => {
            let core = packyard::app::build_core(&settings).await?;
            let issued = core
                .bootstrap_admin(&username)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", issued.token);
            Ok(())
        }
        Command::Completions { .. } => Ok(()),
    }
}
