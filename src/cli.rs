//! What both binaries do before and after their service runs: `--help`, reading the environment, logging,
//! the runtime, and turning Ctrl+C / SIGTERM into a graceful stop.
//!
//! A configuration error is printed as one line naming the variable, and the process exits with status 2
//! (no backtrace): the user's mistake, not a crash.

use std::future::Future;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::config::{help_text, ConfigError, EnvVar};

/// What a binary tells `main`: its name, one line on what it does, and its variables.
pub struct Binary {
    pub name: &'static str,
    pub summary: &'static str,
    pub vars: &'static [EnvVar],
}

/// Runs a binary: prints help if asked, reads its configuration, then runs `service` on a tokio runtime
/// until it returns or the process is asked to stop.
pub fn main<C, S, F>(binary: Binary, read_config: fn() -> Result<C, ConfigError>, service: S) -> ExitCode
where
    S: FnOnce(C, CancellationToken) -> F,
    F: Future<Output = std::io::Result<()>>,
{
    if std::env::args().skip(1).any(|arg| arg == "--help" || arg == "-h") {
        print!("{}", help_text(binary.name, binary.summary, binary.vars));
        return ExitCode::SUCCESS;
    }
    let config = match read_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{}: {e}", binary.name);
            return ExitCode::from(2);
        }
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", binary.name);
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            crate::http::shutdown_signal().await;
            tracing::info!("stopping");
            on_signal.cancel();
        });
        service(config, shutdown).await
    });
    // Everything that matters (commit, LeaveGroup, in-flight requests) is done; don't wait for idle
    // background threads.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: {e}", binary.name);
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}
