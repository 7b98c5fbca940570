//! Runs the real `bank-dev` binary on free ports with a temporary data
//! folder, replays the incident with `teller demo`, stops it with SIGTERM,
//! and starts it again on the same folder to check that the data is reused.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Maximum time to wait for bank-dev's ready line, and for its exit.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Returns the path of the teller binary, which is built next to bank-dev
/// when both packages are built, as `cargo test -p teller -p dev-stack` and
/// `cargo test --workspace` do.
///
/// NOTE: `cargo test -p dev-stack` alone does not rebuild teller, so a
/// stale teller binary there would be tested as it is.
fn teller_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_bank-dev"))
        .with_file_name(format!("teller{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo test -p teller -p dev-stack` so both binaries are built",
        path.display()
    );
    path
}

/// The URLs from the ready line.
#[derive(Debug)]
struct Urls {
    deposit_status: String,
    deposit_admin: String,
    authorization: String,
    authorization_admin: String,
}

fn parse_ready_line(line: &str) -> Urls {
    let value = |name: &str| {
        line.split_whitespace()
            .find_map(|field| field.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} missing in {line}"))
            .to_owned()
    };
    Urls {
        deposit_status: value("deposit-status"),
        deposit_admin: value("deposit-admin"),
        authorization: value("authorization"),
        authorization_admin: value("authorization-admin"),
    }
}

struct BankDev {
    child: Child,
    urls: Urls,
    /// Every stdout line up to the ready line.
    banner: Vec<String>,
}

impl BankDev {
    /// Starts bank-dev with ephemeral ports and waits, at most
    /// [`STARTUP_TIMEOUT`], for its ready line.
    fn start(data_dir: &Path) -> BankDev {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bank-dev"))
            .args(["--data-dir", data_dir.to_str().unwrap(), "--port-base", "0"])
            .env_remove("TELLER_LANG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bank-dev starts");
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut banner = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = receiver.recv_timeout(left) else {
                break;
            };
            if line.starts_with("bank-dev ready: ") {
                let urls = parse_ready_line(&line);
                banner.push(line);
                return BankDev { child, urls, banner };
            }
            banner.push(line);
        }
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        panic!(
            "no ready line within {STARTUP_TIMEOUT:?}\n--- stdout\n{}\n--- stderr\n{}",
            banner.join("\n"),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn teller(&self, data_dir: &Path, args: &[&str]) -> Output {
        let mut command = Command::new(teller_binary());
        for (name, _) in std::env::vars() {
            if name.starts_with("TELLER_") {
                command.env_remove(name);
            }
        }
        command
            .args(args)
            .env("TELLER_DEPOSIT_STATUS_URL", &self.urls.deposit_status)
            .env("TELLER_AUTHORIZATION_URL", &self.urls.authorization)
            .env("TELLER_AUTHORIZATION_ADMIN_URL", &self.urls.authorization_admin)
            .env("TELLER_DEPOSIT_ADMIN_URL", &self.urls.deposit_admin)
            .env("TELLER_STAFF_ID", "T001")
            .env("TELLER_KEY_FILE", data_dir.join("keys").join("T001.pem"))
            .env("TELLER_BRANCH", "BR001")
            .stdin(Stdio::null())
            .output()
            .expect("teller runs")
    }

    /// Sends SIGTERM and waits, at most [`STARTUP_TIMEOUT`], for the exit.
    fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    use std::io::Read;
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return (status.code(), stderr);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("bank-dev did not stop within {STARTUP_TIMEOUT:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for BankDev {
    fn drop(&mut self) {
        // Only reached when a test fails before terminate: never leave a
        // server running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn demo_runs_and_data_is_reused() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path();

    let first = BankDev::start(data_dir);
    let banner = first.banner.join("\n");
    assert!(banner.contains("已在"), "{banner}");
    assert!(banner.contains("PB2022111400"), "{banner}");
    assert!(banner.contains("TELLER_KEY_FILE="), "{banner}");
    assert!(data_dir.join("keys").join("T001.pem").exists());
    assert!(data_dir.join("keys").join("attestation.pem").exists());
    let teller_key = std::fs::read(data_dir.join("keys").join("T001.pem")).unwrap();

    let demo = first.teller(data_dir, &["demo", "--data-dir", data_dir.to_str().unwrap()]);
    let demo_text = text(&demo.stdout);
    assert_eq!(demo.status.code(), Some(0), "{demo_text}\n{}", text(&demo.stderr));
    for expected in [
        "DEPOSIT_MISSING_FROM_CLOSURE",
        "DISCLOSURE_NOT_ACKNOWLEDGED",
        "COSIGNATURE_REQUIRED",
        "BULK_COSIGNATURE_FORBIDDEN",
        "本次支取可得利息：184.67 元",
        "如持有至到期可得利息：7,200.00 元",
        "提前支取损失利息：7,015.33 元",
        "利息：184.67 元",
        "只付款一次",
    ] {
        assert!(demo_text.contains(expected), "{expected} missing in\n{demo_text}");
    }
    // Two deposits, two slips: the second release printed no third one.
    assert_eq!(
        demo_text.matches("======== 支取凭条 ========").count(),
        2,
        "{demo_text}"
    );

    // The demo opened its own passbook; it can run again at once.
    let again = first.teller(
        data_dir,
        &["--lang", "en", "demo", "--data-dir", data_dir.to_str().unwrap()],
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("paid once"),
        "{}",
        text(&again.stdout)
    );

    let verify = first.teller(data_dir, &["audit", "verify", "--json"]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stdout));
    let report: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(report["releases_verified"], 4);

    let (code, stderr) = first.terminate();
    assert_eq!(code, Some(0), "{stderr}");

    let second = BankDev::start(data_dir);
    let banner = second.banner.join("\n");
    assert!(banner.contains("沿用"), "{banner}");
    assert_eq!(
        std::fs::read(data_dir.join("keys").join("T001.pem")).unwrap(),
        teller_key,
        "the teller's key was regenerated"
    );
    let view = second.teller(data_dir, &["passbook", "PB2022111400", "--json"]);
    assert_eq!(view.status.code(), Some(0), "{}", text(&view.stderr));
    let view: serde_json::Value = serde_json::from_slice(&view.stdout).unwrap();
    let deposits = view["deposits"].as_array().unwrap();
    assert_eq!(deposits.len(), 2, "{view}");
    assert!(
        deposits.iter().all(|deposit| deposit["state"] != "withdrawn"),
        "{view}"
    );

    let staff = second.teller(data_dir, &["audit", "verify", "--json"]);
    assert_eq!(staff.status.code(), Some(0), "{}", text(&staff.stdout));

    let (code, stderr) = second.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("ERROR"), "{stderr}");
}
