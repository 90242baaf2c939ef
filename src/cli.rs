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
    /// The port used when `PORT` is not set (for `--healthcheck`).
    pub default_port: u16,
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
    if std::env::args().skip(1).any(|arg| arg == "--healthcheck") {
        return healthcheck(binary.default_port);
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

/// Logs at `info` unless `RUST_LOG` says otherwise. rskafka's partition client is quiet by default: it logs
/// every request it gives up on as an ERROR, including the transaction markers it cannot decode, which the
/// fetch loop steps over as a matter of course (`consume::batches`); our own code logs real failures.
const DEFAULT_LOG_FILTER: &str = "info,rskafka::client::partition=off";

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

/// `--healthcheck`: exits 0 if this binary's own `GET /ping` answers 200 (for container health checks in
/// images that have no shell or curl). Reads only `PORT` and `HOST`; blocking I/O, no runtime.
fn healthcheck(default_port: u16) -> ExitCode {
    match ping_self(default_port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("healthcheck: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn ping_self(default_port: u16) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
    use std::time::Duration;

    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(default_port);
    let host = match std::env::var("HOST").ok().and_then(|h| h.trim().parse::<IpAddr>().ok()) {
        Some(ip) if !ip.is_unspecified() => ip,
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let timeout = Duration::from_secs(2);
    let address = SocketAddr::new(host, port);
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(|e| format!("{address}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let request = format!("GET /ping HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{address}: {e}"))?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).map_err(|e| format!("{address}: {e}"))?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    match status_line.split(' ').nth(1) {
        Some("200") => Ok(()),
        _ => Err(format!(
            "{address}/ping answered {:?}",
            status_line.lines().next().unwrap_or("")
        )),
    }
}
