//! Runs the `teller quote` binary as other tools do and checks its JSON, its
//! summaries in both languages and its exit status on invalid input.

use std::process::{Command, Output};

use serde_json::Value;

fn teller(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_teller"))
        .args(args)
        .env_remove("TELLER_LANG")
        .output()
        .expect("the teller binary runs")
}

fn quote_json(args: &[&str]) -> Value {
    let mut all = vec!["quote", "--json"];
    all.extend_from_slice(args);
    let output = teller(&all);
    assert!(
        output.status.success(),
        "teller {all:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

const INCIDENT: &[&str] = &[
    "--principal",
    "80000.00",
    "--annual-rate",
    "3.00",
    "--term-months",
    "36",
    "--opened",
    "2022-11-14",
    "--on",
    "2025-02-22",
    "--demand-rate",
    "0.10",
];

#[test]
fn incident_json_figures() {
    let report = quote_json(INCIDENT);
    assert_eq!(report["state"], "unmatured");
    assert_eq!(report["maturity_date"], "2025-11-14");
    assert_eq!(report["days_held"], 831);
    assert_eq!(report["interest"], "184.67");
    assert_eq!(report["interest_at_maturity"], "7200.00");
    assert_eq!(report["interest_loss"], "7015.33");
}

#[test]
fn matured_json_figures() {
    let report = quote_json(&[
        "--principal",
        "10000.00",
        "--annual-rate",
        "2.25",
        "--term-months",
        "12",
        "--opened",
        "2015-07-01",
        "--on",
        "2016-07-01",
        "--demand-rate",
        "0.35",
    ]);
    assert_eq!(report["state"], "matured");
    assert_eq!(report["interest"], "225.00");
    assert_eq!(report["interest_loss"], "0.00");
}

#[test]
fn early_json_figures_by_day_basis() {
    let early = [
        "--principal",
        "10000.00",
        "--annual-rate",
        "2.25",
        "--term-months",
        "12",
        "--opened",
        "2015-07-01",
        "--on",
        "2016-01-15",
        "--demand-rate",
        "0.35",
    ];
    let actual_360 = quote_json(&early);
    assert_eq!(actual_360["days_held"], 198);
    assert_eq!(actual_360["interest"], "19.25");

    let mut with_365 = early.to_vec();
    with_365.extend_from_slice(&["--day-basis", "actual-365"]);
    let actual_365 = quote_json(&with_365);
    assert_eq!(actual_365["interest"], "18.99");
    assert_eq!(actual_365["day_basis"], "actual-365");
}

#[test]
fn partial_json_figures() {
    let report = quote_json(&[
        "--principal",
        "20000.00",
        "--annual-rate",
        "2.25",
        "--term-months",
        "12",
        "--opened",
        "2015-07-01",
        "--on",
        "2016-01-15",
        "--demand-rate",
        "0.35",
        "--amount",
        "5000.00",
    ]);
    assert_eq!(report["withdrawal_kind"], "early_partial");
    assert_eq!(report["interest"], "9.63");
    assert_eq!(report["remaining_principal"], "15000.00");
    assert_eq!(report["remaining_interest_at_maturity"], "337.50");
    assert_eq!(report["maturity_date"], "2016-07-01");
}

#[test]
fn overdue_json_figures() {
    let report = quote_json(&[
        "--principal",
        "10000.00",
        "--annual-rate",
        "2.25",
        "--term-months",
        "12",
        "--opened",
        "2015-07-01",
        "--on",
        "2016-08-10",
        "--demand-rate",
        "0.35",
    ]);
    assert_eq!(report["state"], "overdue");
    assert_eq!(report["days_overdue"], 40);
    assert_eq!(report["interest_at_maturity"], "225.00");
    assert_eq!(report["overdue_interest"], "3.89");
    assert_eq!(report["interest"], "228.89");
}

#[test]
fn summary_defaults_to_chinese() {
    let mut args = vec!["quote"];
    args.extend_from_slice(INCIDENT);
    let output = teller(&args);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("未到期"), "{text}");
    assert!(text.contains("184.67"), "{text}");
    assert!(text.contains("7,200.00"), "{text}");
    assert!(text.contains("利息损失：7,015.33 元"), "{text}");
}

#[test]
fn summary_in_english() {
    let mut args = vec!["--lang", "en", "quote"];
    args.extend_from_slice(INCIDENT);
    let output = teller(&args);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("unmatured"), "{text}");
    assert!(text.contains("Interest lost: 7,015.33 CNY"), "{text}");
}

/// Replaces one flag's value in the incident's arguments.
fn incident_with(flag: &str, value: &'static str) -> Vec<&'static str> {
    let mut args = vec!["quote"];
    args.extend_from_slice(INCIDENT);
    let position = args.iter().position(|arg| *arg == flag).expect("flag present") + 1;
    args[position] = value;
    args
}

#[test]
fn invalid_values_exit_2_with_message() {
    let cases: &[(&str, &str, &str)] = &[
        ("--principal", "0", "--principal"),
        ("--principal", "-5", "--principal"),
        ("--principal", "80000.001", "--principal"),
        ("--principal", "8e4", "--principal"),
        ("--principal", "80,000.00", "--principal"),
        ("--principal", "１２", "--principal"),
        ("--annual-rate", "101", "--annual-rate"),
        ("--annual-rate", "-1", "--annual-rate"),
        ("--annual-rate", "NaN", "--annual-rate"),
        ("--term-months", "7", "--term-months"),
        ("--term-months", "-36", "--term-months"),
        ("--opened", "2022-13-01", "--opened"),
        ("--on", "2025-02-30", "--on"),
        ("--on", "2022-11-13", "2022-11-13"),
        ("--demand-rate", "abc", "--demand-rate"),
    ];
    for (flag, value, expected_in_message) in cases {
        let output = teller(&incident_with(flag, value));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(output.stdout.is_empty(), "{flag} {value} printed a result");
        assert!(
            stderr.contains(expected_in_message),
            "{flag} {value}: message {stderr:?} does not mention {expected_in_message}"
        );
    }
}

#[test]
fn amount_above_balance_exits_2() {
    let mut args = vec!["--lang", "en", "quote"];
    args.extend_from_slice(INCIDENT);
    args.extend_from_slice(&["--amount", "80000.01"]);
    let output = teller(&args);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("exceeds the balance"), "{stderr}");
}

#[test]
fn second_partial_withdrawal_exits_2() {
    let mut args = vec!["quote"];
    args.extend_from_slice(INCIDENT);
    args.extend_from_slice(&["--amount", "5000.00", "--partial-used"]);
    let output = teller(&args);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("部分提前支取"), "{stderr}");
}

#[test]
fn missing_flag_exits_2() {
    let output = teller(&["quote", "--principal", "100.00"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(!output.stderr.is_empty());
}
