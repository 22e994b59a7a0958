//! `pgrepl apply` against the real two-host lab, checked with psql on the hosts.

mod common;

use std::time::Duration;

use common::{assert_ok, assert_streams, text, Host, Lab, PASSWORD};

#[test]
fn apply_sets_up_streaming_and_a_second_apply_changes_nothing() {
    let _turn = common::serial();
    let lab = Lab::up("e2e", "10.77.1");
    // Before: PostgreSQL is installed but neither host has a cluster.
    assert_eq!(lab.sh(Host::Primary, "ls /var/lib/postgresql | wc -l"), "0");

    let first = lab.apply(&lab.config(), &[]);
    assert_ok(&first, "first apply");
    assert_streams(&lab);

    let hba = "/etc/postgresql/15/main/pg_hba.conf";
    let sums = |lab: &Lab| {
        lab.sh(
            Host::Primary,
            &format!("sha256sum {hba} /etc/postgresql/15/main/postgresql.conf"),
        )
    };
    let before = sums(&lab);
    let second = lab.apply(&lab.config(), &[]);
    assert_ok(&second, "second apply");
    let out = text(&second);
    for step in ["install", "replica-role", "whitelist", "base-backup"] {
        assert!(
            out.contains(&format!("==> {step}: already done")),
            "second apply re-ran {step}:\n{out}"
        );
    }
    assert_eq!(sums(&lab), before, "second apply changed config files");

    let c = lab.config().to_string_lossy().to_string();
    let verify = lab.pgrepl(&["verify", "--config", &c, "--json"]);
    assert_ok(&verify, "verify --json");
    let report: serde_json::Value =
        serde_json::from_slice(&verify.stdout).expect("verify --json prints only JSON");
    assert_eq!(report["passed"], true);
    assert_eq!(report["replication_state"], "streaming");
    assert!(report["canary_ms"].as_u64().is_some());
    assert_eq!(
        lab.sh(
            Host::Primary,
            &format!("grep -c '^host    replication     replica  *10.77.1.0/24' {hba}")
        ),
        "1",
        "duplicate pg_hba lines"
    );
    assert_streams(&lab);

    // Each host has its own PID namespace: the primary must not see the standby's receiver.
    assert_eq!(
        lab.sh(
            Host::Primary,
            "ps -eo args | grep -c '[w]alreceiver' || true"
        ),
        "0"
    );
    assert_eq!(
        lab.sh(
            Host::Standby,
            "ps -eo args | grep -c '[w]alreceiver' || true"
        ),
        "1"
    );

    // The hostile password was quoted, not run, and never written down.
    for h in [Host::Primary, Host::Standby] {
        assert_eq!(lab.sh(h, "test -e /tmp/pwned && echo yes || echo no"), "no");
    }
    assert!(!std::path::Path::new("/tmp/pwned").exists());
    assert!(!out.contains(PASSWORD) && !text(&first).contains(PASSWORD));
    assert!(
        !lab.state_files_text().contains(PASSWORD),
        "password in journal or transcript"
    );
    assert!(
        !lab.state_files_text().contains("SCRAM-SHA-256$"),
        "password hash in journal or transcript"
    );
    // The replica's password file is private to postgres.
    assert_eq!(
        lab.sh(
            Host::Standby,
            "stat -c '%a %U' /var/lib/postgresql/.pgrepl-*.pgpass"
        ),
        "600 postgres"
    );
}

#[test]
fn a_non_root_user_with_passwordless_sudo_works_too() {
    let _turn = common::serial();
    let lab = Lab::up("e2e", "10.77.1");
    let out = lab.apply(&lab.sudo_config(), &[]);
    assert_ok(&out, "apply as labadmin");
    assert!(text(&out).contains("passwordless sudo"), "{}", text(&out));
    assert_streams(&lab);
}

#[test]
fn plan_shows_every_step_and_changes_nothing() {
    let _turn = common::serial();
    let lab = Lab::up("e2e", "10.77.1");
    let c = lab.config().to_string_lossy().to_string();
    let out = lab.pgrepl(&["plan", "--config", &c]);
    assert_ok(&out, "plan");
    let t = text(&out);
    for needle in [
        "== install",
        "pg_createcluster -p 5432 15 main",
        "== replica-role",
        "CREATE ROLE \"replica\" WITH LOGIN REPLICATION PASSWORD '****';",
        "host    replication     replica         10.77.1.0/24       scram-sha-256",
        "pg_basebackup -h 10.77.1.10 -p 5432 -U replica",
        "== verify",
    ] {
        assert!(t.contains(needle), "plan lacks {needle:?}:\n{t}");
    }
    assert_eq!(
        lab.sh(Host::Primary, "ls /var/lib/postgresql | wc -l"),
        "0",
        "plan created something"
    );
    assert_eq!(
        lab.sh(Host::Standby, "ls /etc/postgresql | wc -l"),
        "0",
        "plan created something"
    );
}

#[test]
fn a_primary_busy_with_writes_replicates_every_row() {
    let _turn = common::serial();
    let lab = Lab::up("e2e", "10.77.1");
    lab.sh(Host::Primary, "pg_createcluster 15 main --start >/dev/null");
    lab.psql(Host::Primary, "CREATE TABLE load (v int);");
    // A bounded writer: 300 batches of 1000 rows, reconnecting across the restart that the
    // whitelist step makes; it stops by itself.
    let writer = lab.dir.join("writer.out");
    let mut load = std::process::Command::new("ssh")
        .arg("-F")
        .arg(lab.dir.join("ssh_config"))
        .arg(format!("root@{}", lab.ip(Host::Primary)))
        .arg(
            "cd / && for i in $(seq 1 300); do runuser -u postgres -- psql -X -q -c \
             'INSERT INTO load SELECT generate_series(1, 1000)' 2>/dev/null || sleep 0.05; done",
        )
        .stdout(std::fs::File::create(&writer).expect("writer log"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ssh runs");
    // The writer's sessions come and go: the restart is consented to, not left to chance.
    let out = lab.apply(&lab.config(), &["--allow-restart"]);
    let _ = load.wait();
    assert_ok(&out, "apply while the primary takes writes");
    let rows = lab.psql(Host::Primary, "SELECT count(*) FROM load;");
    assert_ne!(rows, "0");
    assert!(
        lab.wait_for(
            Host::Standby,
            "SELECT count(*) FROM load;",
            &rows,
            Duration::from_secs(30)
        ),
        "the standby did not catch up to {rows} rows"
    );
    assert_streams(&lab);
}

#[test]
fn status_shows_the_hosts_true_state_not_the_journals() {
    let _turn = common::serial();
    let lab = Lab::up("e2e", "10.77.1");
    assert_ok(
        &lab.apply(&lab.config(), &["--to", "whitelist"]),
        "apply --to whitelist",
    );
    let c = lab.config().to_string_lossy().to_string();
    let state_of = |lab: &Lab| {
        let out = lab.pgrepl(&["status", "--config", &c]);
        assert_ok(&out, "status");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let before = state_of(&lab);
    for line in [
        "replica-role  done",
        "whitelist     done",
        "base-backup   pending",
    ] {
        assert!(before.contains(line), "{line:?} missing:\n{before}");
    }
    // Changed by hand behind pgrepl's back: the journal says done, the primary disagrees.
    lab.psql(Host::Primary, "DROP ROLE replica;");
    let after = state_of(&lab);
    assert!(after.contains("replica-role  pending"), "{after}");
    assert!(after.contains("whitelist     done"), "{after}");
    // The hosts rebuilt from scratch: nothing is done, whatever the journal remembers.
    let rebuilt = common::command()
        .args(["lab", "up", "--name", "e2e", "--subnet", "10.77.1.0/24"])
        .output()
        .expect("lab up");
    assert_ok(&rebuilt, "lab up again");
    let fresh = state_of(&lab);
    for line in [
        "install       pending",
        "replica-role  pending",
        "whitelist     pending",
    ] {
        assert!(fresh.contains(line), "{line:?} missing:\n{fresh}");
    }
}

#[test]
fn the_password_never_appears_on_a_remote_command_line() {
    let _turn = common::serial();
    let lab = Lab::up("e2e", "10.77.1");
    // Sample every process's arguments on both hosts while apply runs (bounded: ~300
    // samples each), then look for the password and its hash in what ps showed.
    let samplers: Vec<_> = [Host::Primary, Host::Standby]
        .into_iter()
        .map(|h| {
            std::process::Command::new("ssh")
                .arg("-F")
                .arg(lab.dir.join("ssh_config"))
                .arg(format!("root@{}", lab.ip(h)))
                .arg("for i in $(seq 1 300); do ps -eo args; sleep 0.02; done > /tmp/ps.log")
                .spawn()
                .expect("ssh runs")
        })
        .collect();
    let out = lab.apply(&lab.config(), &[]);
    assert_ok(&out, "apply");
    for mut s in samplers {
        let _ = s.wait();
    }
    for h in [Host::Primary, Host::Standby] {
        let seen = lab.sh(h, "cat /tmp/ps.log");
        assert!(
            seen.lines().count() > 1000,
            "the sampler saw too little:\n{seen}"
        );
        assert!(
            seen.contains("psql") || seen.contains("pg_basebackup") || seen.contains("postgres")
        );
        assert!(
            !seen.contains(PASSWORD),
            "{h:?}: password on a command line"
        );
        assert!(
            !seen.contains("touch /tmp/pwned"),
            "{h:?}: part of the password on a command line"
        );
        assert!(
            !seen.contains("SCRAM-SHA-256$"),
            "{h:?}: password hash on a command line"
        );
    }
}

#[test]
fn a_network_without_the_standby_is_refused_before_the_primary_changes() {
    let _turn = common::serial();
    let lab = Lab::up("e2e", "10.77.1");
    let wrong = lab.state.path().join("wrong-cidr.toml");
    let text_cfg = std::fs::read_to_string(lab.config()).expect("lab config");
    std::fs::write(&wrong, text_cfg.replace("10.77.1.0/24", "10.88.0.0/24")).expect("write config");
    let out = lab.apply(&wrong, &[]);
    assert!(
        !out.status.success(),
        "apply should refuse:\n{}",
        text(&out)
    );
    let t = text(&out);
    assert!(t.contains("==> whitelist: failed"), "{t}");
    assert!(
        t.contains("allowed_cidr") && t.contains("10.77.1.0/24"),
        "the hint names the fix:\n{t}"
    );
    assert_eq!(
        lab.sh(
            Host::Primary,
            "grep -c pgrepl /etc/postgresql/15/main/pg_hba.conf || true"
        ),
        "0",
        "pg_hba.conf was changed"
    );
}
