//! `pgrepl apply` on a bare lab (`pgrepl lab up --bare`): neither host has the PostgreSQL
//! server, so the install step really installs it with apt (from the repository the lab
//! serves on its bridge), and replication then streams. Checked on the hosts with dpkg and
//! psql over ssh, never with pgrepl's own report.

mod common;

use std::time::{Duration, Instant};

use common::{assert_ok, text, Host, Lab};

const STATUS: &str = "dpkg-query -W -f='${Status}' postgresql-15 2>/dev/null || true";

#[test]
fn apply_on_bare_hosts_installs_postgresql_and_streams() {
    let _turn = common::serial();
    let lab = Lab::up_bare("inst", "10.77.3");

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
            format!("deb [trusted=yes] http://{}.1:8077/ ./", lab.prefix())
        );
    }

    let start = Instant::now();
    let out = lab.apply(&lab.config(), &[]);
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

    // Rolled back with --purge-packages: what install added goes, the data does not.
    let c = lab.config().to_string_lossy().to_string();
    let plain = lab.pgrepl(&["rollback", "--config", &c, "--yes", "--to", "base-backup"]);
    assert_ok(&plain, "rollback to base-backup");
    let out = lab.pgrepl(&["rollback", "--config", &c, "--yes", "--purge-packages"]);
    assert_ok(&out, "rollback --purge-packages");
    for h in [Host::Primary, Host::Standby] {
        let status = lab.sh(h, STATUS);
        assert!(
            !status.contains("ok installed"),
            "{h:?}: postgresql-15 is still installed after rollback --purge-packages: {status:?}"
        );
        assert_eq!(
            lab.sh(
                h,
                "ls -d /var/lib/postgresql/15/main.pgrepl-*.removed/data | wc -l"
            ),
            "1",
            "{h:?}: the cluster pgrepl created is set aside, not deleted"
        );
        assert_eq!(
            lab.sh(h, "ls /etc/postgresql/15 | grep -vc pgrepl || true"),
            "0",
            "{h:?}: pg_lsclusters would still list the cluster"
        );
    }
    // The primary's rows are still there, in the directory set aside.
    assert_eq!(
        lab.sh(
            Host::Primary,
            "test -f /var/lib/postgresql/15/main.pgrepl-*.removed/data/PG_VERSION && echo kept"
        ),
        "kept"
    );
}
