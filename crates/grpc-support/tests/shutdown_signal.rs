//! Sends SIGTERM to this test process and checks that `shutdown_signal`
//! resolves. It is a separate test binary because the signal reaches every
//! test running in the process.
#![cfg(unix)]

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

#[tokio::test]
async fn sigterm_resolves_shutdown_signal() {
    // Registering a SIGTERM stream first replaces the default action, so a
    // signal that arrives before shutdown_signal listens does not kill the
    // test process. The test then fails by timing out instead.
    let mut guard = signal(SignalKind::terminate()).unwrap();

    let waiting = tokio::spawn(grpc_support::server::shutdown_signal());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "resolved before any signal");

    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill failed: {status}");

    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("shutdown_signal did not resolve after SIGTERM")
        .unwrap();
    guard.recv().await;
}
