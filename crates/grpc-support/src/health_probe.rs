//! A client for the gRPC health checking protocol
//! (<https://github.com/grpc/grpc/blob/master/doc/health-checking.md>), for
//! the `health-probe` subcommand of both service binaries. Container engines
//! run it as their health check, so the images need no downloaded probe.
//!
//! Every failure exits with status 1, invalid input included. The
//! Dockerfile reference for HEALTHCHECK lists status 2 as "reserved - do not
//! use this exit code". clap exits with 2 on a usage error, so the binaries
//! pass a failed parse of a probe's command line to [`exit_on_usage_error`].

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus as WireStatus;
use tonic_health::pb::health_client::HealthClient;

/// Default time a probe waits for the connection and the response together.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Maximum probe timeout accepted, in ms: one minute, longer than any
/// container engine's health check timeout should be.
pub const MAX_PROBE_TIMEOUT_MS: u64 = 60_000;

/// Exit status of every failed probe: the service is not serving or not
/// reachable, or the probe's address, flags or env file are invalid. Docker
/// and Kubernetes treat any non-zero status as unhealthy.
pub const EXIT_UNHEALTHY: u8 = 1;

/// Name of the subcommand that runs [`run`].
pub const SUBCOMMAND: &str = "health-probe";

/// Flags of the `health-probe` subcommand, the same in both services.
#[derive(Debug, Clone, clap::Args)]
pub struct ProbeArgs {
    /// Address to check. Defaults to the service's teller-facing listen
    /// address setting, with 0.0.0.0 or :: replaced by loopback.
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// Health service name to check. Defaults to the service's main gRPC
    /// service, which turns NOT_SERVING as soon as shutdown starts. An
    /// empty name checks the server as a whole.
    #[arg(long)]
    pub service: Option<String>,
    /// Time in ms to wait for the connection and the response together, 1
    /// to 60000.
    #[arg(long, default_value_t = DEFAULT_PROBE_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_PROBE_TIMEOUT_MS))]
    pub timeout_ms: u64,
}

/// Settings of one service binary that [`run`] needs.
#[derive(Debug, Clone, Copy)]
pub struct ProbeTarget<'a> {
    /// Environment variable of the teller-facing listen address, read when
    /// `--addr` is not given.
    pub listen_addr_variable: &'a str,
    /// Listen address used when neither `--addr` nor the variable is set.
    pub default_listen_addr: &'a str,
    /// gRPC name of the service's main service.
    pub service_name: &'a str,
}

/// Returns whether `args` (without the program name) run the
/// [`SUBCOMMAND`], so that a failure before [`run`] can still exit with
/// [`EXIT_UNHEALTHY`]. The subcommand is the first argument that is neither
/// a flag nor the value of one of `flags_with_value`, the binary's global
/// flags that take a separate value.
pub fn is_probe_invocation(args: &[OsString], flags_with_value: &[&str]) -> bool {
    let mut remaining = args.iter();
    while let Some(arg) = remaining.next() {
        if flags_with_value.iter().any(|flag| arg == flag) {
            remaining.next();
        } else if !arg.to_string_lossy().starts_with('-') {
            return arg == SUBCOMMAND;
        }
    }
    false
}

/// Prints a clap `error` from parsing a probe's command line and returns
/// its exit status: 0 for `--help` and `--version`, and [`EXIT_UNHEALTHY`]
/// in place of clap's status 2 for a usage error.
pub fn exit_on_usage_error(error: &clap::Error) -> ExitCode {
    // A failed print leaves nothing else to report, so its error is ignored.
    let _ = error.print();
    if error.exit_code() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_UNHEALTHY)
    }
}

/// Runs the `health-probe` subcommand: prints one line and returns exit
/// status 0 when the service is SERVING, and [`EXIT_UNHEALTHY`] when it is
/// not, cannot be reached, or the address to check is invalid.
pub fn run(args: &ProbeArgs, target: ProbeTarget<'_>) -> ExitCode {
    let listen_addr = match &args.addr {
        Some(addr) => *addr,
        None => {
            let (text, source) = match std::env::var(target.listen_addr_variable) {
                Ok(text) if !text.is_empty() => (text, target.listen_addr_variable),
                _ => (
                    target.default_listen_addr.to_string(),
                    "the default listen address",
                ),
            };
            match text.parse::<SocketAddr>() {
                Ok(addr) => addr,
                Err(error) => {
                    eprintln!(
                        "error: invalid {source} {text:?}: {error}; expected HOST:PORT, for example 127.0.0.1:50051"
                    );
                    return ExitCode::from(EXIT_UNHEALTHY);
                }
            }
        }
    };
    let addr = probe_addr(listen_addr);
    let service = args.service.as_deref().unwrap_or(target.service_name);
    let timeout = Duration::from_millis(args.timeout_ms);

    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::from(EXIT_UNHEALTHY);
        }
    };
    match runtime.block_on(check(addr, service, timeout)) {
        Ok(()) => {
            println!("SERVING: {service:?} at {addr}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_UNHEALTHY)
        }
    }
}

/// Failure of a probe: the service is unreachable, slow or not serving.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No connection could be opened.
    #[error("failed to connect to {addr}: {source}")]
    Connect {
        /// Address probed.
        addr: SocketAddr,
        /// Transport error.
        source: tonic::transport::Error,
    },
    /// The connection or the call took longer than the timeout.
    #[error("health check of {addr} timed out after {} ms", timeout.as_millis())]
    Timeout {
        /// Address probed.
        addr: SocketAddr,
        /// Timeout that expired.
        timeout: Duration,
    },
    /// The server answered the call with an error status, for example
    /// NOT_FOUND for a service name it does not know.
    #[error("health check of {service:?} at {addr} failed: {:?}: {}", status.code(), status.message())]
    Call {
        /// Address probed.
        addr: SocketAddr,
        /// Service name checked.
        service: String,
        /// Status returned.
        status: Box<tonic::Status>,
    },
    /// The server reported a status other than SERVING.
    #[error("service {service:?} at {addr} is {status}")]
    NotServing {
        /// Address probed.
        addr: SocketAddr,
        /// Service name checked.
        service: String,
        /// Reported status name, for example NOT_SERVING.
        status: String,
    },
}

/// Returns the address a probe connects to for a listener bound to
/// `listen_addr`: the same port on loopback when the listener is bound to
/// every interface (0.0.0.0 or ::), which is not an address to connect to.
pub fn probe_addr(listen_addr: SocketAddr) -> SocketAddr {
    match listen_addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen_addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen_addr.port())
        }
        _ => listen_addr,
    }
}

/// Checks `service` at `addr` (an empty name checks the server as a whole)
/// and returns `Ok` only when the server reports SERVING within `timeout`.
pub async fn check(addr: SocketAddr, service: &str, timeout: Duration) -> Result<(), ProbeError> {
    match tokio::time::timeout(timeout, check_without_timeout(addr, service)).await {
        Ok(result) => result,
        Err(_) => Err(ProbeError::Timeout { addr, timeout }),
    }
}

async fn check_without_timeout(addr: SocketAddr, service: &str) -> Result<(), ProbeError> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|source| ProbeError::Connect { addr, source })?;
    let channel = endpoint
        .connect()
        .await
        .map_err(|source| ProbeError::Connect { addr, source })?;

    let request = HealthCheckRequest {
        service: service.to_string(),
    };
    let response = HealthClient::new(channel)
        .check(request)
        .await
        .map_err(|status| ProbeError::Call {
            addr,
            service: service.to_string(),
            status: Box::new(status),
        })?;

    let reported = response.into_inner().status;
    if reported == WireStatus::Serving as i32 {
        return Ok(());
    }
    let status = WireStatus::try_from(reported)
        .map(|status| status.as_str_name().to_string())
        .unwrap_or_else(|_| format!("an unknown status {reported}"));
    Err(ProbeError::NotServing {
        addr,
        service: service.to_string(),
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(values: &[&str]) -> Vec<OsString> {
        values.iter().map(OsString::from).collect()
    }

    #[test]
    fn probe_invocation_found_after_global_flags() {
        let flags = ["--env-file"];

        assert!(is_probe_invocation(&args(&["health-probe"]), &flags));
        assert!(is_probe_invocation(
            &args(&["health-probe", "--addr", "x"]),
            &flags
        ));
        assert!(is_probe_invocation(
            &args(&["--env-file", "a.env", "health-probe"]),
            &flags
        ));
        assert!(is_probe_invocation(
            &args(&["--env-file=a.env", "health-probe"]),
            &flags
        ));
    }

    #[test]
    fn probe_invocation_not_found_for_other_commands() {
        let flags = ["--env-file"];

        assert!(!is_probe_invocation(&args(&[]), &flags));
        assert!(!is_probe_invocation(&args(&["serve"]), &flags));
        assert!(!is_probe_invocation(&args(&["serve", "health-probe"]), &flags));
        assert!(!is_probe_invocation(
            &args(&["--env-file", "health-probe", "serve"]),
            &flags
        ));
    }

    #[test]
    fn probe_addr_replaces_unspecified_ipv4() {
        let addr = probe_addr("0.0.0.0:50051".parse().unwrap());
        assert_eq!(addr, "127.0.0.1:50051".parse::<SocketAddr>().unwrap());
    }

    #[test]
    fn probe_addr_replaces_unspecified_ipv6() {
        let addr = probe_addr("[::]:50061".parse().unwrap());
        assert_eq!(addr, "[::1]:50061".parse::<SocketAddr>().unwrap());
    }

    #[test]
    fn probe_addr_keeps_specific_address() {
        let addr = probe_addr("10.1.2.3:50051".parse().unwrap());
        assert_eq!(addr, "10.1.2.3:50051".parse::<SocketAddr>().unwrap());
    }

    #[tokio::test]
    async fn check_reports_refused_connection() {
        // Bind and drop a listener to get a port with nothing behind it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);

        let error = check(addr, "", DEFAULT_PROBE_TIMEOUT).await.unwrap_err();
        assert!(matches!(error, ProbeError::Connect { .. }), "{error}");
    }

    #[tokio::test]
    async fn check_times_out_on_silent_listener() {
        // A listener that accepts nothing: the TCP handshake completes in
        // the kernel, but no HTTP/2 response ever comes.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();

        let error = check(addr, "", Duration::from_millis(300)).await.unwrap_err();
        assert!(matches!(error, ProbeError::Timeout { .. }), "{error}");
    }
}
