//! Tests of the withdrawal-authorization binary's command line, run as an
//! operator runs it: help output, env file errors and the health probe's
//! exit codes. None of them starts a server or opens a database.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BINARY: &str = env!("CARGO_BIN_EXE_withdrawal-authorization");
/// Exit code of a usage or configuration error.
const USAGE_ERROR: i32 = 2;
/// Exit code of every failed health probe, usage errors included.
const PROBE_FAILURE: i32 = 1;
/// A password that no output may contain.
const PASSWORD: &str = "S3cret-Pw";

/// Runs the binary with `args` in `directory`, with `settings` as its only
/// WITHDRAWAL_AUTHORIZATION_* variables, and waits for it to exit.
fn run(directory: &Path, args: &[&str], settings: &BTreeMap<String, String>) -> Output {
    let mut command = Command::new(BINARY);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("WITHDRAWAL_AUTHORIZATION_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .current_dir(directory)
        .envs(settings)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn stdout_text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes `text` to the file `name` in `directory` and returns its path.
fn write_file(directory: &Path, name: &str, text: &str) -> PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn help_hides_secret_urls() {
    let directory = tempfile::tempdir().unwrap();
    let settings = BTreeMap::from([
        (
            "WITHDRAWAL_AUTHORIZATION_DATABASE_URL".to_owned(),
            format!("postgres://bank:{PASSWORD}@127.0.0.1:1/bank"),
        ),
        (
            "WITHDRAWAL_AUTHORIZATION_DEPOSIT_STATUS_URL".to_owned(),
            format!("http://probe:{PASSWORD}@127.0.0.1:1"),
        ),
    ]);
    let env_file_text: String = settings
        .iter()
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect();
    let env_file = write_file(directory.path(), "withdrawal-authorization.env", &env_file_text);
    let env_file = env_file.to_str().unwrap();
    let no_settings = BTreeMap::new();
    // (arguments, environment): the URLs set as variables, and in an env file.
    let cases: [(&[&str], &BTreeMap<String, String>); 4] = [
        (&["serve", "--help"], &settings),
        (&["verify-audit", "--help"], &settings),
        (&["--env-file", env_file, "serve", "--help"], &no_settings),
        (&["--env-file", env_file, "verify-audit", "--help"], &no_settings),
    ];

    for (args, environment) in cases {
        let output = run(directory.path(), args, environment);

        let stdout = stdout_text(&output);
        assert_eq!(
            output.status.code(),
            Some(0),
            "args {args:?}: {}",
            stderr_text(&output)
        );
        assert!(
            stdout.contains("[env: WITHDRAWAL_AUTHORIZATION_DATABASE_URL"),
            "args {args:?}: {stdout}"
        );
        assert!(
            !stdout.contains(PASSWORD),
            "args {args:?}: the password was printed: {stdout}"
        );
        assert!(!stderr_text(&output).contains(PASSWORD), "args {args:?}");
    }
}

#[test]
fn unparsable_env_file_line_hides_value() {
    let directory = tempfile::tempdir().unwrap();
    // Unquoted whitespace ends a value, so line 3 does not parse.
    let text = format!(
        "# withdrawal-authorization\nWITHDRAWAL_AUTHORIZATION_LISTEN_ADDR=127.0.0.1:0\n\
         WITHDRAWAL_AUTHORIZATION_DATABASE_URL=postgres://bank:{PASSWORD} x@db/bank\n"
    );
    let env_file = write_file(directory.path(), "withdrawal-authorization.env", &text);
    let env_file = env_file.to_str().unwrap();
    let from_variable = BTreeMap::from([(
        "WITHDRAWAL_AUTHORIZATION_ENV_FILE".to_owned(),
        env_file.to_owned(),
    )]);
    let no_settings = BTreeMap::new();
    // (arguments, environment): the file named by the flag and by the variable.
    let cases: [(&[&str], &BTreeMap<String, String>); 2] = [
        (&["--env-file", env_file, "serve"], &no_settings),
        (&["serve"], &from_variable),
    ];

    for (args, environment) in cases {
        let output = run(directory.path(), args, environment);

        let stderr = stderr_text(&output);
        assert_eq!(output.status.code(), Some(USAGE_ERROR), "args {args:?}: {stderr}");
        assert!(stderr.contains(env_file), "args {args:?}: {stderr}");
        assert!(stderr.contains("line 3"), "args {args:?}: {stderr}");
        assert!(
            stderr.contains("WITHDRAWAL_AUTHORIZATION_DATABASE_URL"),
            "args {args:?}: {stderr}"
        );
        assert!(
            !stderr.contains(PASSWORD),
            "args {args:?}: the password was printed: {stderr}"
        );
        assert!(
            !stderr.contains("postgres://"),
            "args {args:?}: the value was printed: {stderr}"
        );
    }
}

#[test]
fn health_probe_failures_exit_1() {
    let directory = tempfile::tempdir().unwrap();
    let missing_env_file = directory.path().join("missing.env");
    let missing_env_file = missing_env_file.to_str().unwrap();
    let invalid_listen_addr = BTreeMap::from([(
        "WITHDRAWAL_AUTHORIZATION_LISTEN_ADDR".to_owned(),
        "localhost".to_owned(),
    )]);
    let no_settings = BTreeMap::new();
    // (arguments, environment, text that stderr must contain)
    let cases: [(&[&str], &BTreeMap<String, String>, &str); 5] = [
        (
            &["health-probe"],
            &invalid_listen_addr,
            "WITHDRAWAL_AUTHORIZATION_LISTEN_ADDR",
        ),
        (
            &["health-probe", "--timeout-ms", "0"],
            &no_settings,
            "--timeout-ms",
        ),
        (&["health-probe", "--addr", "nonsense"], &no_settings, "--addr"),
        (
            &["health-probe", "--no-such-flag"],
            &no_settings,
            "--no-such-flag",
        ),
        (
            &["--env-file", missing_env_file, "health-probe"],
            &no_settings,
            missing_env_file,
        ),
    ];

    for (args, environment, expected) in cases {
        let output = run(directory.path(), args, environment);

        let stderr = stderr_text(&output);
        assert_eq!(
            output.status.code(),
            Some(PROBE_FAILURE),
            "args {args:?}: {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "args {args:?}: {expected:?} missing from {stderr:?}"
        );
    }

    let help = run(directory.path(), &["health-probe", "--help"], &no_settings);
    assert_eq!(help.status.code(), Some(0), "{}", stderr_text(&help));
    // Other subcommands keep clap's usage-error status.
    let serve = run(directory.path(), &["serve", "--no-such-flag"], &no_settings);
    assert_eq!(serve.status.code(), Some(USAGE_ERROR), "{}", stderr_text(&serve));
}
