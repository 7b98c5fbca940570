//! Checks `init_tracing` in its own test binary, because it installs the
//! process-wide subscriber.

#[test]
fn init_tracing_twice_is_harmless() {
    assert!(!tracing::dispatcher::has_been_set());

    grpc_support::server::init_tracing();
    assert!(tracing::dispatcher::has_been_set());

    // A second call finds the subscriber installed and changes nothing.
    grpc_support::server::init_tracing();
    tracing::info!("logging after a second init_tracing call");
}
