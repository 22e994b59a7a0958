//! `pgrepl apply` on a bare lab (`pgrepl lab up --bare`): neither host has the PostgreSQL
//! server, so the install step really installs it with apt (from the repository the lab
//! serves on its bridge), and replication then streams. Checked on the hosts with dpkg and
//! psql over ssh, never with pgrepl's own report.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{assert_ok, text, Host, PASSWORD};

const NAME: &str = "inst";
const PREFIX: &str = "10.77.3";

/// `common::Lab` brings up a lab with PostgreSQL installed and keeps its subnet private,
/// so this test has its own small handle. Dropping it tears the lab down.
struct BareLab {
    dir: PathBuf,
    state: tempfile::TempDir,
}

impl BareLab {
    fn up() -> BareLab {
        let uid = Command::new("id").arg("-u").output().expect("id runs");
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "the lab tests need root (network namespaces); run the suite as root"
        );
        // The guard exists before `up`, so a half-built lab is torn down too.
        let lab = BareLab {
            dir: PathBuf::from("/var/lib/pgrepl-lab").join(NAME),
            state: tempfile::tempdir().expect("temp dir"),
        };
        let start = Instant::now();
        let out = Command::new(common::bin())
            .args([
                "lab",
                "up",
                "--bare",
                "--name",
                NAME,
                "--subnet",
                &format!("{PREFIX}.0/24"),
            ])
            .output()
            .expect("pgrepl runs");
        assert_ok(&out, "lab up --bare");
        eprintln!("lab up --bare: {:.1?}", start.elapsed());
        lab
    }

    fn config(&self) -> PathBuf {
        self.dir.join("pgrepl.toml")
    }

    fn ip(&self, h: Host) -> String {
        match h {
            Host::Primary => format!("{PREFIX}.10"),
            Host::Standby => format!("{PREFIX}.11"),
        }
    }

    /// A root shell script on a lab host, through the real ssh client.
    fn ssh(&self, h: Host, script: &str) -> Output {
        Command::new("ssh")
            .arg("-F")
            .arg(self.dir.join("ssh_config"))
            .arg(format!("root@{}", self.ip(h)))
            .arg(format!("cd / && sh -c '{}'", script.replace('\'', r"'\''")))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("ssh runs")
    }

    fn sh(&self, h: Host, script: &str) -> String {
        let out = self.ssh(h, script);
        assert_ok(&out, &format!("{h:?}: {script}"));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn try_psql(&self, h: Host, sql: &str) -> Option<String> {
        let script = format!(
            "runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -d postgres -c {}",
            shell_quote(sql)
        );
        let out = self.ssh(h, &script);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn psql(&self, h: Host, sql: &str) -> String {
        self.try_psql(h, sql)
            .unwrap_or_else(|| panic!("{h:?}: psql failed: {sql}"))
    }

    fn wait_for(&self, h: Host, sql: &str, want: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.try_psql(h, sql).as_deref() == Some(want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn apply(&self) -> Output {
        Command::new(common::bin())
            .arg("apply")
            .arg("--config")
            .arg(self.config())
            .arg("--yes")
            .env("PGREPL_STATE_DIR", self.state.path())
            .env("PGREPL_REPLICA_PASSWORD", PASSWORD)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("pgrepl runs")
    }

    /// Everything pgrepl wrote to its state directory (journal, transcripts).
    fn state_files_text(&self) -> String {
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

impl Drop for BareLab {
    fn drop(&mut self) {
        let _ = Command::new(common::bin())
            .args(["lab", "down", "--name", NAME])
            .output();
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

const STATUS: &str = "dpkg-query -W -f='${Status}' postgresql-15 2>/dev/null || true";

#[test]
fn apply_on_bare_hosts_installs_postgresql_and_streams() {
    let lab = BareLab::up();

    // Before: no server on either host, only the lab's repository as apt source.
    for h in [Host::Primary, Host::Standby] {
        let status = lab.sh(h, STATUS);
        assert!(
            !status.contains("ok installed"),
            "{h:?}: postgresql-15 is installed on a bare host: {status:?}"
        );
        assert_eq!(
            lab.sh(
                h,
                "if [ -e /usr/lib/postgresql/15/bin/postgres ]; then echo present; else echo absent; fi"
            ),
            "absent",
            "{h:?}: the server binary exists on a bare host"
        );
        assert_eq!(lab.sh(h, "ls /var/lib/postgresql | wc -l"), "0");
        assert_eq!(
            lab.sh(h, "cat /etc/apt/sources.list.d/*"),
            format!("deb [trusted=yes] http://{PREFIX}.1:8077/ ./")
        );
    }

    let start = Instant::now();
    let out = lab.apply();
    let took = start.elapsed();
    assert_ok(&out, "apply on bare hosts");
    eprintln!("apply (with the install): {took:.1?}");

    // The install step really installed: apt ran, and dpkg says so on both hosts.
    let all = format!("{}\n{}", text(&out), lab.state_files_text());
    assert!(
        all.contains("apt-get install"),
        "neither the output nor the transcript shows apt-get install:\n{all}"
    );
    assert!(
        all.contains("Setting up postgresql-15") || all.contains("Unpacking postgresql-15"),
        "no sign of dpkg installing postgresql-15 in the output or transcript:\n{all}"
    );
    for h in [Host::Primary, Host::Standby] {
        assert_eq!(
            lab.sh(h, STATUS),
            "install ok installed",
            "{h:?}: postgresql-15 after apply"
        );
        assert_eq!(
            lab.sh(h, "test -x /usr/lib/postgresql/15/bin/postgres && echo ok"),
            "ok"
        );
    }

    // Replication streams.
    assert!(
        lab.wait_for(
            Host::Primary,
            "SELECT state FROM pg_stat_replication;",
            "streaming",
            Duration::from_secs(20)
        ),
        "pg_stat_replication on the primary never said streaming: {:?}",
        lab.try_psql(Host::Primary, "SELECT state FROM pg_stat_replication;")
    );
    assert_eq!(lab.psql(Host::Standby, "SELECT pg_is_in_recovery();"), "t");
    let token = format!("installed-{}", std::process::id());
    lab.psql(
        Host::Primary,
        &format!("CREATE TABLE IF NOT EXISTS inst (v text); INSERT INTO inst VALUES ('{token}');"),
    );
    assert!(
        lab.wait_for(
            Host::Standby,
            &format!("SELECT count(*) FROM inst WHERE v = '{token}';"),
            "1",
            Duration::from_secs(20)
        ),
        "the row written on the primary never reached the standby"
    );
}
