//! Runs `teller withdraw`, `teller close`, `teller release` and the
//! supervisor commands against both real services: the incident's
//! unmatured deposit pays 184.67 once and only after the customer's
//! acknowledgement and a co-signature, on site or from another process.

mod common;

use bank_proto::withdrawal::AuthorizationState;
use common::{Background, Bank, ID_NUMBER, INCIDENT, TWO_UNMATURED, assert_exit, json_lines, stderr, stdout};

fn withdraw_args<'a>(deposit: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "withdraw",
        "--passbook",
        INCIDENT,
        "--deposit",
        deposit,
        "--whole",
        "--id-type",
        "resident-id-card",
        "--id-number",
        ID_NUMBER,
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdraw_on_site_pays_once() {
    let bank = Bank::start().await;
    let supervisor_key = bank.key_file("S001");
    let supervisor_key = supervisor_key.to_str().unwrap();
    let args = withdraw_args(
        "TD-UNMATURED",
        &[
            "--yes",
            "--capture-method",
            "signature-pad",
            "--capture-ref",
            "PAD-0001",
            "--supervisor-id",
            "S001",
            "--supervisor-key-file",
            supervisor_key,
        ],
    );
    let output = bank.run("T001", &args).await;
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(text.contains("利息损失告知书"), "{text}");
    assert!(text.contains("提前支取损失利息：7,015.33 元"), "{text}");
    assert!(text.contains("支取凭条"), "{text}");
    assert!(text.contains("利息：184.67 元"), "{text}");
    assert!(text.contains("本息合计：80,184.67 元"), "{text}");
    assert!(text.contains("营运主管 S001 已授权"), "{text}");
    assert_eq!(bank.executions().await, 1);

    // The deposit is paid out: a second withdrawal is refused and pays
    // nothing more.
    let again = bank.run("T001", &args).await;
    assert_exit(&again, 1);
    assert!(stderr(&again).starts_with("错误："), "{}", stderr(&again));
    assert_eq!(bank.executions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdraw_json_stages() {
    let bank = Bank::start().await;
    let supervisor_key = bank.key_file("S001");
    let args = withdraw_args(
        "TD-UNMATURED",
        &[
            "--json",
            "--yes",
            "--capture-method",
            "paper-form",
            "--capture-ref",
            "FORM-7",
            "--supervisor-id",
            "S001",
            "--supervisor-key-file",
            supervisor_key.to_str().unwrap(),
        ],
    );
    let output = bank.run("T001", &args).await;
    assert_exit(&output, 0);
    let lines = json_lines(&output);
    let stages: Vec<&str> = lines.iter().map(|line| line["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["submitted", "acknowledged", "cosigned", "result"]);
    assert_eq!(lines[0]["authorization"]["interest_loss"], "7015.33");
    assert_eq!(lines[0]["authorization"]["deposit_state"], "unmatured");
    let result = &lines[3];
    assert_eq!(result["status"], "released");
    assert_eq!(result["payout"]["interest"], "184.67");
    assert_eq!(result["payout"]["total"], "80184.67");
    // In JSON mode the disclosure still reaches the customer, on stderr.
    assert!(stderr(&output).contains("利息损失告知书"), "{}", stderr(&output));
    assert_eq!(bank.executions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdraw_declined_releases_nothing() {
    let bank = Bank::start().await;
    let supervisor_key = bank.key_file("S001");
    let supervisor_key = supervisor_key.to_str().unwrap();
    // The capture flags are given, so only the confirmation is missing.
    let extra = [
        "--json",
        "--capture-method",
        "signature-pad",
        "--capture-ref",
        "PAD-9",
        "--supervisor-id",
        "S001",
        "--supervisor-key-file",
        supervisor_key,
    ];

    // stdin closed, no TTY, no --yes: the customer never confirmed.
    let closed = bank.run("T001", &withdraw_args("TD-UNMATURED", &extra)).await;
    assert_exit(&closed, 3);
    let lines = json_lines(&closed);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let authorization_id = lines[0]["authorization"]["authorization_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        stderr(&closed).contains("客户未确认利息损失告知，未放款"),
        "{}",
        stderr(&closed)
    );
    let pending = bank.authorization(&authorization_id).await;
    assert_eq!(pending.state(), AuthorizationState::Pending);
    assert!(pending.acknowledgement.is_none());
    assert!(pending.decisions.is_empty());
    assert_eq!(bank.executions().await, 0);

    // A supervisor rejects it, so the deposit can be tried again. This time
    // the customer types "n".
    let reject = bank
        .run(
            "S001",
            &[
                "supervisor",
                "reject",
                &authorization_id,
                "--reason",
                "客户不同意提前支取",
            ],
        )
        .await;
    assert_exit(&reject, 0);
    let answered = bank
        .run_with_input("T001", &withdraw_args("TD-UNMATURED", &extra), "n\n")
        .await;
    assert_exit(&answered, 3);
    assert!(stderr(&answered).contains("[y/N]"), "{}", stderr(&answered));
    assert_eq!(bank.executions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_error_is_localized() {
    let bank = Bank::start().await;
    let declined = bank
        .run(
            "T001",
            &withdraw_args("TD-UNMATURED", &["--json", "--wait-secs", "1"]),
        )
        .await;
    assert_exit(&declined, 3);
    let lines = json_lines(&declined);
    let authorization_id = lines[0]["authorization"]["authorization_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let output = bank.run("T001", &["release", &authorization_id]).await;
    assert_exit(&output, 1);
    let first_line = stderr(&output).lines().next().unwrap_or_default().to_owned();
    assert_eq!(
        first_line,
        "错误：客户尚未确认利息损失告知，不能授权或放款。（DISCLOSURE_NOT_ACKNOWLEDGED）"
    );

    let english = bank
        .run("T001", &["--lang", "en", "release", &authorization_id])
        .await;
    assert_exit(&english, 1);
    let first_line = stderr(&english).lines().next().unwrap_or_default().to_owned();
    assert!(first_line.starts_with("error: "), "{first_line}");
    assert!(
        first_line.ends_with("(DISCLOSURE_NOT_ACKNOWLEDGED)"),
        "{first_line}"
    );
    assert_eq!(bank.executions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_timeout_leaves_authorization_pending() {
    let bank = Bank::start().await;
    let output = bank
        .run(
            "T001",
            &withdraw_args("TD-MATURED", &["--json", "--wait-secs", "1"]),
        )
        .await;
    assert_exit(&output, 3);
    let lines = json_lines(&output);
    let stages: Vec<&str> = lines.iter().map(|line| line["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["submitted", "waiting_for_cosignature"]);
    assert!(
        stderr(&output).contains("等待营运主管授权超时"),
        "{}",
        stderr(&output)
    );
    let authorization_id = lines[0]["authorization"]["authorization_id"].as_str().unwrap();
    assert_eq!(
        bank.authorization(authorization_id).await.state(),
        AuthorizationState::Pending
    );

    // Co-signed later from another terminal, it is paid with teller release.
    let cosign = bank
        .run("S001", &["supervisor", "cosign", authorization_id])
        .await;
    assert_exit(&cosign, 0);
    let release = bank.run("T001", &["release", authorization_id, "--json"]).await;
    assert_exit(&release, 0);
    let result = json_lines(&release);
    assert_eq!(result[0]["payout"]["interest"], "1125.00");
    assert_eq!(bank.executions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_cosign_while_withdraw_waits() {
    let bank = Bank::start().await;
    let mut waiting = Background::spawn(bank.command(
        "T001",
        &withdraw_args(
            "TD-UNMATURED",
            &[
                "--json",
                "--yes",
                "--capture-method",
                "pin-pad",
                "--capture-ref",
                "PIN-42",
                "--wait-secs",
                "60",
            ],
        ),
    ));
    let line = waiting
        .wait_for_line(|line| line.contains("waiting_for_cosignature"))
        .await;
    let stage: serde_json::Value = serde_json::from_str(&line).unwrap();
    let authorization_id = stage["authorization_ids"][0].as_str().unwrap().to_owned();

    let list = bank.run("S001", &["supervisor", "list"]).await;
    assert_exit(&list, 0);
    assert!(stdout(&list).contains(&authorization_id), "{}", stdout(&list));
    assert!(stdout(&list).contains("⚠ 未到期"), "{}", stdout(&list));
    let listed = bank.run("S001", &["supervisor", "list", "--json"]).await;
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["acknowledged"], true);

    let show = bank.run("S001", &["supervisor", "show", &authorization_id]).await;
    assert_exit(&show, 0);
    let shown = stdout(&show);
    for expected in [
        "7,015.33",
        "184.67",
        "7,200.00",
        "2025-11-14",
        "客户已确认",
        "密码键盘",
        "PIN-42",
    ] {
        assert!(shown.contains(expected), "{expected} missing in\n{shown}");
    }

    // The teller cannot co-sign their own withdrawal.
    let own = bank
        .run("T001", &["supervisor", "cosign", &authorization_id])
        .await;
    assert_exit(&own, 1);
    assert!(stderr(&own).contains("错误："), "{}", stderr(&own));

    let cosign = bank
        .run("S001", &["supervisor", "cosign", &authorization_id])
        .await;
    assert_exit(&cosign, 0);
    assert!(stdout(&cosign).contains("已授权"), "{}", stdout(&cosign));

    let (status, rest, errors) = waiting.finish().await;
    assert_eq!(status.code(), Some(0), "stderr:\n{errors}");
    let result: serde_json::Value = serde_json::from_str(rest.last().unwrap()).unwrap();
    assert_eq!(result["stage"], "result");
    assert_eq!(result["payout"]["interest"], "184.67");
    assert_eq!(bank.executions().await, 1);

    let empty = bank.run("S001", &["supervisor", "list"]).await;
    assert!(stdout(&empty).contains("没有待授权"), "{}", stdout(&empty));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_reject_stops_waiting_withdraw() {
    let bank = Bank::start().await;
    let mut waiting = Background::spawn(bank.command(
        "T001",
        &withdraw_args("TD-MATURED", &["--json", "--wait-secs", "60"]),
    ));
    let line = waiting
        .wait_for_line(|line| line.contains("waiting_for_cosignature"))
        .await;
    let stage: serde_json::Value = serde_json::from_str(&line).unwrap();
    let authorization_id = stage["authorization_ids"][0].as_str().unwrap().to_owned();

    let reject = bank
        .run(
            "S001",
            &[
                "supervisor",
                "reject",
                &authorization_id,
                "--reason",
                "客户证件与存折户名不符",
            ],
        )
        .await;
    assert_exit(&reject, 0);

    let (status, _, errors) = waiting.finish().await;
    assert_eq!(status.code(), Some(1), "stderr:\n{errors}");
    assert!(errors.contains("已拒绝授权"), "{errors}");
    assert!(errors.contains("客户证件与存折户名不符"), "{errors}");
    assert_eq!(
        bank.authorization(&authorization_id).await.state(),
        AuthorizationState::Rejected
    );
    assert_eq!(bank.executions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_confirms_each_unmatured_deposit() {
    let bank = Bank::start().await;
    let supervisor_key = bank.key_file("S001");
    let args = [
        "close",
        "--passbook",
        TWO_UNMATURED,
        "--id-type",
        "resident-id-card",
        "--id-number",
        ID_NUMBER,
        "--json",
        "--supervisor-id",
        "S001",
        "--supervisor-key-file",
        supervisor_key.to_str().unwrap(),
    ];
    // Per unmatured deposit: yes, capture method 1, a reference. Then one
    // approval per co-signature: two single ones and one shared.
    let answers = "y\n1\nPAD-A\ny\n3\nFORM-B\ny\ny\ny\n";
    let output = bank.run_with_input("T001", &args, answers).await;
    assert_exit(&output, 0);

    let errors = stderr(&output);
    assert_eq!(errors.matches("客户是否已阅读并确认").count(), 2, "{errors}");
    assert_eq!(
        errors.matches("主管 S001 是否核对无误并授权").count(),
        3,
        "{errors}"
    );
    assert_eq!(errors.matches("利息损失告知书").count(), 2, "{errors}");

    let lines = json_lines(&output);
    let stages: Vec<&str> = lines.iter().map(|line| line["stage"].as_str().unwrap()).collect();
    assert_eq!(
        stages,
        [
            "passbook",
            "submitted",
            "acknowledged",
            "acknowledged",
            "cosigned",
            "cosigned",
            "cosigned",
            "result"
        ]
    );
    let cosigned: Vec<usize> = lines
        .iter()
        .filter(|line| line["stage"] == "cosigned")
        .map(|line| line["authorizations"].as_array().unwrap().len())
        .collect();
    assert_eq!(cosigned, [1, 1, 1]);
    let acknowledged: Vec<&str> = lines
        .iter()
        .filter(|line| line["stage"] == "acknowledged")
        .map(|line| line["authorization"]["deposit_id"].as_str().unwrap())
        .collect();
    assert_eq!(acknowledged, ["TD-TWO-UNMATURED-A", "TD-TWO-UNMATURED-B"]);

    let result = lines.last().unwrap();
    let payouts = result["payouts"].as_array().unwrap();
    assert_eq!(payouts.len(), 3);
    let interest_of = |deposit: &str| {
        payouts
            .iter()
            .find(|payout| payout["deposit_id"] == deposit)
            .map(|payout| payout["interest"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(interest_of("TD-TWO-UNMATURED-A"), "184.67");
    assert_eq!(interest_of("TD-TWO-MATURED"), "33.75");
    assert_eq!(bank.executions().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_stops_when_customer_declines() {
    let bank = Bank::start().await;
    let supervisor_key = bank.key_file("S001");
    let args = [
        "close",
        "--passbook",
        TWO_UNMATURED,
        "--id-type",
        "resident-id-card",
        "--id-number",
        ID_NUMBER,
        "--supervisor-id",
        "S001",
        "--supervisor-key-file",
        supervisor_key.to_str().unwrap(),
    ];
    // Yes to the first unmatured deposit, no to the second: nothing is
    // co-signed or paid, not even the matured deposit.
    let output = bank.run_with_input("T001", &args, "y\n1\nPAD-A\nn\n").await;
    assert_exit(&output, 3);
    assert!(stdout(&output).contains("⚠ 未到期"), "{}", stdout(&output));
    assert!(!stdout(&output).contains("支取凭条"), "{}", stdout(&output));
    assert_eq!(bank.executions().await, 0);
}
