//! A real two-host lab for end-to-end tests: `pgrepl lab up` builds it, the tests drive
//! the real binary against it over the real OpenSSH client, and check the hosts with
//! PostgreSQL itself (psql over ssh), never with pgrepl's own report.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "it's \"$(touch /tmp/pwned)\" `id` ; $HOME";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pgrepl")
}

/// The binary, speaking English whatever the machine's locale (the tests read its
/// messages). The Chinese catalog has its own test in `lab_machine.rs`.
pub fn command() -> Command {
    let mut c = Command::new(bin());
    c.env("PGREPL_LANG", "en");
    c
}

/// Tests in one binary share their lab name, so they take turns.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Host {
    Primary,
    Standby,
    /// The second standby of a lab built with `--standbys 2` or more.
    Standby2,
}

pub struct Lab {
    pub name: String,
    prefix: String,
    pub dir: PathBuf,
    pub state: tempfile::TempDir,
    /// What `lab up` printed.
    pub up_output: String,
}

fn must(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Lab {
    /// A fresh lab `name` on `prefix`.0/24 (e.g. "10.77.1"). Requires root.
    pub fn up(name: &str, prefix: &str) -> Lab {
        Lab::up_with(name, prefix, &[])
    }

    /// A fresh lab whose hosts lack the PostgreSQL server (`lab up --bare`).
    pub fn up_bare(name: &str, prefix: &str) -> Lab {
        Lab::up_with(name, prefix, &["--bare"])
    }

    /// A fresh lab with `n` standbys (`lab up --standbys N`).
    pub fn up_standbys(name: &str, prefix: &str, n: u8) -> Lab {
        Lab::up_with(name, prefix, &["--standbys", &n.to_string()])
    }

    fn up_with(name: &str, prefix: &str, extra: &[&str]) -> Lab {
        let uid = Command::new("id").arg("-u").output().expect("id runs");
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "the lab tests need root (network namespaces); run the suite as root"
        );
        // The guard exists before `up`, so a half-built lab is torn down too.
        let lab = Lab {
            name: name.to_string(),
            prefix: prefix.to_string(),
            dir: PathBuf::from("/var/lib/pgrepl-lab").join(name),
            state: tempfile::tempdir().expect("temp dir"),
            up_output: String::new(),
        };
        let mut lab = lab;
        let out = command()
            .args([
                "lab",
                "up",
                "--name",
                name,
                "--subnet",
                &format!("{prefix}.0/24"),
            ])
            .args(extra)
            .output()
            .expect("pgrepl runs");
        lab.up_output = text(&must(out, "lab up"));
        lab
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("pgrepl.toml")
    }

    /// The lab's config with `from` replaced by `to`, written to the state directory.
    pub fn config_with(&self, from: &str, to: &str) -> PathBuf {
        let text = std::fs::read_to_string(self.config())
            .expect("lab config")
            .replace(from, to);
        let path = self.state.path().join("setup.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    pub fn sudo_config(&self) -> PathBuf {
        self.dir.join("pgrepl-sudo.toml")
    }

    pub fn ip(&self, h: Host) -> String {
        match h {
            Host::Primary => format!("{}.10", self.prefix),
            Host::Standby => format!("{}.11", self.prefix),
            Host::Standby2 => format!("{}.12", self.prefix),
        }
    }

    /// Runs a root shell script on a lab host through the real ssh client.
    pub fn ssh(&self, h: Host, script: &str, stdin: &str) -> Output {
        let mut child = Command::new("ssh")
            .arg("-F")
            .arg(self.dir.join("ssh_config"))
            .arg(format!("root@{}", self.ip(h)))
            .arg(format!("cd / && sh -c '{}'", script.replace('\'', r"'\''")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssh runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("ssh finishes")
    }

    pub fn sh(&self, h: Host, script: &str) -> String {
        let out = must(self.ssh(h, script, ""), script);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// psql as postgres on the host, SQL on stdin; the trimmed, unaligned output.
    pub fn psql(&self, h: Host, sql: &str) -> String {
        let out = self.ssh(
            h,
            "runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -d postgres",
            sql,
        );
        let out = must(out, sql);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn try_psql(&self, h: Host, sql: &str) -> Option<String> {
        let out = self.ssh(
            h,
            "runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -d postgres",
            sql,
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Polls the standby until `sql` returns `want` (replication is asynchronous).
    pub fn wait_for(&self, h: Host, sql: &str, want: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.try_psql(h, sql).as_deref() == Some(want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn pgrepl(&self, args: &[&str]) -> Output {
        self.pgrepl_with(args, &[("PGREPL_REPLICA_PASSWORD", PASSWORD)])
    }

    pub fn pgrepl_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = command();
        cmd.args(args)
            .env("PGREPL_STATE_DIR", self.state.path())
            .env_remove("PGREPL_REPLICA_PASSWORD");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).output().expect("pgrepl runs")
    }

    pub fn apply(&self, config: &Path, extra: &[&str]) -> Output {
        let c = config.to_string_lossy().to_string();
        let mut args = vec!["apply", "--config", &c, "--yes"];
        args.extend_from_slice(extra);
        self.pgrepl(&args)
    }

    /// Everything pgrepl wrote to its state directory (journal, transcripts).
    pub fn state_files_text(&self) -> String {
        let mut all = String::new();
        for e in std::fs::read_dir(self.state.path())
            .expect("state dir")
            .flatten()
        {
            all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
        all
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = command()
            .args(["lab", "down", "--name", &self.name])
            .output();
    }
}

pub const CONF: &str = "/etc/postgresql/15/main";
pub const DATA: &str = "/var/lib/postgresql/15/main";

pub fn config_sums(lab: &Lab) -> String {
    lab.sh(
        Host::Primary,
        &format!("sha256sum {CONF}/pg_hba.conf {CONF}/postgresql.conf {DATA}/postgresql.auto.conf"),
    )
}

/// Hosts as a user who has been using PostgreSQL already: a running primary with data, a
/// standby with a cluster of its own holding a file we must get back.
pub fn lived_in_hosts(lab: &Lab) {
    lab.sh(Host::Primary, "pg_createcluster 15 main --start >/dev/null");
    lab.psql(
        Host::Primary,
        "CREATE TABLE keep (v text); INSERT INTO keep VALUES ('precious');",
    );
    lab.sh(
        Host::Standby,
        &format!("pg_createcluster 15 main >/dev/null && echo mine > {DATA}/MARKER"),
    );
}

/// Starts `pgrepl apply` in the background.
pub fn spawn_apply(lab: &Lab, extra: &[&str]) -> std::process::Child {
    let c = lab.config().to_string_lossy().to_string();
    command()
        .args(["apply", "--config", &c, "--yes"])
        .args(extra)
        .env("PGREPL_STATE_DIR", lab.state.path())
        .env("PGREPL_REPLICA_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pgrepl starts")
}

/// Replication checked with PostgreSQL itself: the primary's walsender streams, the
/// standby is in recovery, and a new row written on the primary is read on the standby.
pub fn assert_streams(lab: &Lab) {
    assert_eq!(
        lab.psql(Host::Primary, "SELECT state FROM pg_stat_replication;"),
        "streaming",
        "pg_stat_replication on the primary"
    );
    assert_eq!(lab.psql(Host::Standby, "SELECT pg_is_in_recovery();"), "t");
    static ROUND: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let round = ROUND.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let token = format!("row-{}-{round}", std::process::id());
    lab.psql(
        Host::Primary,
        &format!("CREATE TABLE IF NOT EXISTS e2e (v text); INSERT INTO e2e VALUES ('{token}');"),
    );
    assert!(
        lab.wait_for(
            Host::Standby,
            &format!("SELECT count(*) FROM e2e WHERE v = '{token}';"),
            "1",
            Duration::from_secs(20)
        ),
        "the row written on the primary never reached the standby"
    );
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        text(out)
    );
}
