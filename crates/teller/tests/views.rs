//! Runs the read-only and administrative `teller` commands against both
//! real services: the passbook view in both languages, service errors,
//! invalid input, key generation, staff enrollment and the audit commands.

mod common;

use bank_proto::withdrawal::GetAuditTrailRequest;
use common::{Bank, ID_NUMBER, INCIDENT, assert_exit, json_lines, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passbook_view_zh_cn() {
    let bank = Bank::start().await;
    let output = bank.run("T001", &["passbook", INCIDENT]).await;
    assert_exit(&output, 0);
    let text = stdout(&output);
    for expected in [
        "一本通/存折 PB-INCIDENT",
        "存折状态：正常",
        "营业日：2025-02-22",
        "今日全额支取利息",
        "利息损失",
        "⚠ 未到期",
        "已到期",
        "2025-11-14",
        "3.00%",
        "80,000.00",
        "184.67",
        "7,015.33",
        "1,125.00",
        "其中 1 笔未到期",
    ] {
        assert!(text.contains(expected), "{expected} missing in\n{text}");
    }
    // stdout is a pipe here, so the marker replaces colour.
    assert!(!text.contains('\x1b'), "{text:?}");
    let unmatured_row = text
        .lines()
        .find(|line| line.starts_with("TD-UNMATURED"))
        .unwrap();
    assert!(unmatured_row.contains("⚠ 未到期"), "{unmatured_row}");
    let matured_row = text.lines().find(|line| line.starts_with("TD-MATURED")).unwrap();
    assert!(!matured_row.contains('⚠'), "{matured_row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passbook_view_en_and_json() {
    let bank = Bank::start().await;
    let output = bank.run("T001", &["--lang", "en", "passbook", INCIDENT]).await;
    assert_exit(&output, 0);
    let text = stdout(&output);
    for expected in [
        "Passbook PB-INCIDENT",
        "Status: active",
        "⚠ unmatured",
        "matured",
        "Interest lost",
        "7,015.33",
    ] {
        assert!(text.contains(expected), "{expected} missing in\n{text}");
    }
    assert!(!text.contains("未到期"), "{text}");

    let json = bank.run("T001", &["passbook", INCIDENT, "--json"]).await;
    assert_exit(&json, 0);
    let view: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(view["status"], "active");
    let deposits = view["deposits"].as_array().unwrap();
    assert_eq!(deposits.len(), 2);
    let unmatured = deposits
        .iter()
        .find(|deposit| deposit["deposit_id"] == "TD-UNMATURED")
        .unwrap();
    assert_eq!(unmatured["state"], "unmatured");
    assert_eq!(unmatured["interest_now"], "184.67");
    assert_eq!(unmatured["interest_at_maturity"], "7200.00");
    assert_eq!(unmatured["interest_loss"], "7015.33");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_errors_show_reason() {
    let bank = Bank::start().await;
    let missing = bank.run("T001", &["passbook", "PB-NONE"]).await;
    assert_exit(&missing, 1);
    let message = stderr(&missing);
    assert!(message.starts_with("错误："), "{message}");
    assert!(message.contains("PB-NONE"), "{message}");
    assert!(
        message.trim_end().ends_with("（PASSBOOK_NOT_FOUND）"),
        "{message}"
    );

    let english = bank.run("T001", &["--lang", "en", "passbook", "PB-NONE"]).await;
    assert_exit(&english, 1);
    assert!(
        stderr(&english).trim_end().ends_with("(PASSBOOK_NOT_FOUND)"),
        "{}",
        stderr(&english)
    );

    // A teller of another branch: the service rejects the instruction.
    let mut other_branch = bank.command(
        "T001",
        &[
            "withdraw",
            "--passbook",
            INCIDENT,
            "--deposit",
            "TD-MATURED",
            "--whole",
            "--id-type",
            "resident-id-card",
            "--id-number",
            ID_NUMBER,
            "--wait-secs",
            "1",
        ],
    );
    other_branch.env("TELLER_BRANCH", "BR999");
    let output = tokio::task::spawn_blocking(move || other_branch.output().unwrap())
        .await
        .unwrap();
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("（WRONG_BRANCH）"),
        "{}",
        stderr(&output)
    );

    let unreachable = bank
        .run(
            "T001",
            &["--deposit-status-url", "http://127.0.0.1:1", "passbook", INCIDENT],
        )
        .await;
    assert_exit(&unreachable, 1);
    assert!(
        stderr(&unreachable).contains("无法连接服务"),
        "{}",
        stderr(&unreachable)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_exits_2() {
    let bank = Bank::start().await;
    let withdraw = |extra: &[&str]| {
        let mut args = vec!["withdraw", "--passbook", INCIDENT, "--deposit", "TD-UNMATURED"];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            withdraw(&[
                "--whole",
                "--id-type",
                "resident-id-card",
                "--id-number",
                "110101199001011234",
            ]),
            "--id-number",
        ),
        (
            withdraw(&[
                "--amount",
                "1e5",
                "--id-type",
                "passport",
                "--id-number",
                "E1***89",
            ]),
            "--amount",
        ),
        (
            withdraw(&[
                "--amount",
                "-5",
                "--id-type",
                "passport",
                "--id-number",
                "E1***89",
            ]),
            "--amount",
        ),
        (
            withdraw(&[
                "--whole",
                "--id-type",
                "passport",
                "--id-number",
                "E1***89",
                "--yes",
            ]),
            "--capture-ref",
        ),
        (
            withdraw(&["--whole", "--id-type", "nope", "--id-number", "E1***89"]),
            "nope",
        ),
        (
            withdraw(&["--id-type", "passport", "--id-number", "E1***89"]),
            "--whole",
        ),
        (
            withdraw(&[
                "--whole",
                "--id-type",
                "passport",
                "--id-number",
                "E1***89",
                "--supervisor-id",
                "T001",
                "--supervisor-key-file",
                "/nonexistent",
            ]),
            "T001",
        ),
        (vec!["passbook".to_owned(), "PB 1".to_owned()], "PASSBOOK_NUMBER"),
        (
            vec![
                "supervisor".to_owned(),
                "reject".to_owned(),
                "A1".to_owned(),
                "--reason".to_owned(),
                " ".to_owned(),
            ],
            "--reason",
        ),
        (
            vec![
                "--deposit-status-url".to_owned(),
                "localhost".to_owned(),
                "passbook".to_owned(),
                INCIDENT.to_owned(),
            ],
            "localhost",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = bank.run("T001", &args).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            !stderr(&output).contains("panicked"),
            "{args:?}: {}",
            stderr(&output)
        );
        // A full ID number is never echoed back.
        assert!(
            !stderr(&output).contains("110101199001011234"),
            "{}",
            stderr(&output)
        );
    }

    let mut no_key = bank.command("T001", &["supervisor", "cosign", "A1"]);
    no_key.env("TELLER_KEY_FILE", bank.directory.path().join("missing.pem"));
    let output = tokio::task::spawn_blocking(move || no_key.output().unwrap())
        .await
        .unwrap();
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("missing.pem"), "{}", stderr(&output));
    assert_eq!(bank.executions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_generate_and_staff_enroll() {
    let bank = Bank::start().await;
    let key_file = bank.directory.path().join("T009.pem");
    let key_path = key_file.to_str().unwrap();
    let generated = bank.run("T001", &["keys", "generate", "--out", key_path]).await;
    assert_exit(&generated, 0);
    assert!(key_file.exists());
    let public = format!("{key_path}.pub");
    assert!(std::path::Path::new(&public).exists());
    let again = bank.run("T001", &["keys", "generate", "--out", key_path]).await;
    assert_exit(&again, 2);

    // The member's id must be typed: TELLER_STAFF_ID alone names the
    // person at the terminal, not the one enrolled.
    let from_env = bank
        .run(
            "T001",
            &[
                "staff",
                "enroll",
                "--name",
                "周敏",
                "--role",
                "teller",
                "--public-key-file",
                &public,
            ],
        )
        .await;
    assert_exit(&from_env, 2);

    let enroll = bank
        .run(
            "T001",
            &[
                "staff",
                "enroll",
                "--staff-id",
                "T009",
                "--branch",
                "BR001",
                "--name",
                "周敏",
                "--role",
                "teller",
                "--public-key-file",
                &public,
            ],
        )
        .await;
    assert_exit(&enroll, 0);
    assert!(
        stdout(&enroll).contains("已登记员工 T009 周敏"),
        "{}",
        stdout(&enroll)
    );

    let limitless = bank
        .run(
            "T001",
            &[
                "staff",
                "enroll",
                "--staff-id",
                "S009",
                "--branch",
                "BR001",
                "--name",
                "吴刚",
                "--role",
                "supervisor",
                "--public-key-file",
                &public,
            ],
        )
        .await;
    assert_exit(&limitless, 2);

    // The new teller signs with the new key: the passbook view needs no
    // signature, so submit a withdrawal that waits one second.
    let mut command = bank.command(
        "T009",
        &[
            "withdraw",
            "--passbook",
            INCIDENT,
            "--deposit",
            "TD-MATURED",
            "--whole",
            "--id-type",
            "resident-id-card",
            "--id-number",
            ID_NUMBER,
            "--wait-secs",
            "1",
            "--json",
        ],
    );
    command.env("TELLER_KEY_FILE", &key_file);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert_exit(&output, 3);
    let lines = json_lines(&output);
    assert_eq!(lines[0]["authorization"]["teller_staff_id"], "T009");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_trail_and_verify() {
    let bank = Bank::start().await;
    let supervisor_key = bank.key_file("S001");
    let withdraw = bank
        .run(
            "T001",
            &[
                "withdraw",
                "--passbook",
                INCIDENT,
                "--deposit",
                "TD-UNMATURED",
                "--whole",
                "--id-type",
                "resident-id-card",
                "--id-number",
                ID_NUMBER,
                "--yes",
                "--capture-method",
                "signature-pad",
                "--capture-ref",
                "PAD-1",
                "--supervisor-id",
                "S001",
                "--supervisor-key-file",
                supervisor_key.to_str().unwrap(),
                "--json",
            ],
        )
        .await;
    assert_exit(&withdraw, 0);
    let authorization_id = json_lines(&withdraw)[0]["authorization"]["authorization_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let trail = bank
        .run("T001", &["audit", "trail", "--authorization", &authorization_id])
        .await;
    assert_exit(&trail, 0);
    let text = stdout(&trail);
    for expected in [
        "柜员提交支取",
        "客户确认利息损失告知",
        "营运主管授权",
        "已放款",
        "S001",
        "T001",
    ] {
        assert!(text.contains(expected), "{expected} missing in\n{text}");
    }
    let expected_records = bank
        .authorization
        .clone()
        .get_audit_trail(GetAuditTrailRequest {
            authorization_id: authorization_id.clone(),
            passbook_number: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .records
        .len();
    let json = bank
        .run("T001", &["audit", "trail", "--passbook", INCIDENT, "--json"])
        .await;
    assert_exit(&json, 0);
    let records: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(records.as_array().unwrap().len(), expected_records);

    let verify = bank.run("T001", &["audit", "verify"]).await;
    assert_exit(&verify, 0);
    assert!(
        stdout(&verify).contains("审计日志校验通过"),
        "{}",
        stdout(&verify)
    );
    assert!(stdout(&verify).contains("1 笔放款"), "{}", stdout(&verify));
    let report = bank.run("T001", &["audit", "verify", "--json"]).await;
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["releases_verified"], 1);

    // One byte appended to a stored record breaks its hash. The CAST keeps
    // the column a BLOB, because SQLite's || returns text.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", bank.authorization_database().display()))
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET entry = CAST(entry || X'00' AS BLOB) WHERE sequence = 3")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let tampered = bank.run("T001", &["audit", "verify"]).await;
    assert_exit(&tampered, 1);
    assert!(
        stdout(&tampered).contains("审计日志校验失败"),
        "{}",
        stdout(&tampered)
    );
    assert!(stdout(&tampered).contains("record 3"), "{}", stdout(&tampered));
}
