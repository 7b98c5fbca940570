//! Throwaway PostgreSQL clusters: `initdb` in a temporary directory, then
//! `pg_ctl` on a free port of 127.0.0.1 with the socket in that directory.
//!
//! initdb refuses to run as root, so when this process is root every server
//! command runs as the `postgres` system user through `runuser`, in a
//! directory handed to that user.
//!
//! A watcher process (`sh`) reads the write end of a pipe that only this
//! process holds. When this process exits for any reason, the pipe closes,
//! and the watcher stops the cluster and removes its directory, so a static
//! cluster that is never dropped is not left running.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::HOW_TO_GET_POSTGRES;

/// The user that runs the server when this process is root.
const SERVER_USER: &str = "postgres";
/// Ports tried before giving up on starting a cluster.
const START_ATTEMPTS: usize = 5;
/// Seconds pg_ctl waits for the server to start or stop.
const PG_CTL_WAIT_SECS: &str = "60";

/// A PostgreSQL cluster on 127.0.0.1 that lives in a temporary directory.
/// Dropping it stops the server and removes the directory.
pub struct PostgresCluster {
    bin_dir: PathBuf,
    root: PathBuf,
    port: u16,
    run_as: Option<&'static str>,
    watcher: Option<Child>,
}

impl PostgresCluster {
    /// Creates and starts a cluster whose superuser `postgres` connects
    /// without a password over TCP on 127.0.0.1. Fails with a message that
    /// names the missing piece and [`HOW_TO_GET_POSTGRES`].
    pub fn start() -> Result<PostgresCluster, String> {
        let bin_dir = find_bin_dir()?;
        let run_as = if process_is_root()? {
            Some(SERVER_USER)
        } else {
            None
        };

        let root = tempfile::Builder::new()
            .prefix("bank-postgres-")
            .tempdir()
            .map_err(|error| format!("failed to create a directory for a PostgreSQL cluster: {error}"))?
            .keep();
        let mut cluster = PostgresCluster {
            bin_dir,
            root,
            port: 0,
            run_as,
            watcher: None,
        };
        if let Some(user) = run_as {
            cluster.hand_root_to(user)?;
        }
        cluster.watcher = Some(cluster.spawn_watcher()?);
        cluster.init()?;

        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            cluster.port = free_port()?;
            match cluster.start_again() {
                Ok(()) => return Ok(cluster),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    /// Returns the TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the URL of `database` as the superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m
    /// immediate`). Connections break and new ones are refused.
    pub fn stop(&self) -> Result<(), String> {
        let output = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-w", "-t", PG_CTL_WAIT_SECS, "stop", "-m", "immediate"])
            .output()
            .map_err(|error| format!("failed to run pg_ctl stop: {error}"))?;
        check("pg_ctl stop", &output)
    }

    /// Starts the server again on the same port and waits until it accepts
    /// connections.
    pub fn start_again(&self) -> Result<(), String> {
        // fsync=off and full_page_writes=off lose data only when the
        // machine crashes, which no test does. Commits stay synchronous, so
        // a committed transaction survives `stop` with `-m immediate`.
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{root}' \
             -c max_connections=300 -c fsync=off -c full_page_writes=off",
            port = self.port,
            root = self.root.display()
        );
        let output = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_file())
            .args(["-w", "-t", PG_CTL_WAIT_SECS, "-o", &options, "start"])
            .output()
            .map_err(|error| format!("failed to run pg_ctl start: {error}"))?;
        check("pg_ctl start", &output).map_err(|error| format!("{error}\nserver log:\n{}", self.log_tail()))
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    /// Returns the last lines of the server log, for failure messages.
    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.log_file()) {
            let _ = file.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn init(&self) -> Result<(), String> {
        let output = self
            .server_command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .map_err(|error| format!("failed to run initdb: {error}. {HOW_TO_GET_POSTGRES}"))?;
        check("initdb", &output)
    }

    /// Makes `user` the owner of the cluster directory, so that the server
    /// can create its data directory, socket and log there.
    fn hand_root_to(&self, user: &str) -> Result<(), String> {
        let uid = user_id(user, "-u")?;
        let gid = user_id(user, "-g")?;
        std::os::unix::fs::chown(&self.root, Some(uid), Some(gid))
            .map_err(|error| format!("failed to hand {} to user {user}: {error}", self.root.display()))
    }

    /// Starts the process that stops the server and removes the directory
    /// once this process closes its standard input.
    fn spawn_watcher(&self) -> Result<Child, String> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(r#"read _unused; "$@" >/dev/null 2>&1; rm -rf -- "$0""#)
            .arg(&self.root);
        if let Some(user) = self.run_as {
            command.arg(runuser()).args(["-u", user, "--"]);
        }
        command
            .arg(self.bin_dir.join("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-w", "stop", "-m", "immediate"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("failed to start the cluster's watcher process: {error}"))
    }

    /// Builds a command that runs `program` from the server binaries, as the
    /// server user when this process is root.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin_dir.join(program);
        let mut command = match self.run_as {
            Some(user) => {
                let mut command = Command::new(runuser());
                command.args(["-u", user, "--"]).arg(path);
                command
            }
            None => Command::new(path),
        };
        command.current_dir(&self.root).stdin(Stdio::null());
        command
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let _ = self.stop();
        }
        if let Some(mut watcher) = self.watcher.take() {
            // Closing its standard input lets the watcher remove the
            // directory.
            drop(watcher.stdin.take());
            let _ = watcher.wait();
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Finds the directory with initdb and pg_ctl: the newest
/// /usr/lib/postgresql/VERSION/bin (Debian), else the first PATH entry that
/// has both.
fn find_bin_dir() -> Result<PathBuf, String> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_tools(dir))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Ok(dir);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .find(|dir| has_tools(dir))
        .ok_or_else(|| format!("initdb and pg_ctl were not found. {HOW_TO_GET_POSTGRES}"))
}

/// True when this process runs as root, read from the owner of
/// /proc/self, which is the effective user.
fn process_is_root() -> Result<bool, String> {
    std::fs::metadata("/proc/self")
        .map(|metadata| metadata.uid() == 0)
        .map_err(|error| format!("failed to read the user of this process from /proc/self: {error}"))
}

/// Returns the user id (`-u`) or group id (`-g`) of `user`.
fn user_id(user: &str, flag: &str) -> Result<u32, String> {
    let missing = || {
        format!(
            "initdb refuses to run as root, so the tests run it as the system user {user}, which does not \
             exist. Install the postgresql package, which creates it, or run the tests as another user. \
             {HOW_TO_GET_POSTGRES}"
        )
    };
    let output = Command::new("id")
        .args([flag, user])
        .output()
        .map_err(|_| missing())?;
    if !output.status.success() {
        return Err(missing());
    }
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| missing())
}

/// Returns the path of runuser, which is in /usr/sbin on Debian.
fn runuser() -> &'static str {
    ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .into_iter()
        .find(|path| Path::new(path).is_file())
        .unwrap_or("runuser")
}

/// Returns a port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("failed to find a free port on 127.0.0.1: {error}"))
}

/// Turns a failed command into an error with its output.
fn check(what: &str, output: &Output) -> Result<(), String> {
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
