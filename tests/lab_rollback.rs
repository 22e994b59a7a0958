//! Pause, retry, roll back and resume, proven against a real lab and checked with psql and
//! sha256sum on the hosts.

mod common;

use std::time::{Duration, Instant};

use common::{assert_ok, config_sums, lived_in_hosts, spawn_apply, text, Host, Lab, CONF, DATA};

fn streams(lab: &Lab) -> bool {
    lab.wait_for(
        Host::Primary,
        "SELECT state FROM pg_stat_replication;",
        "streaming",
        Duration::from_secs(20),
    )
}

fn transcript(lab: &Lab) -> String {
    std::fs::read_dir(lab.state.path())
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("transcript-"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

fn journal_state(lab: &Lab, step: &str) -> String {
    for e in std::fs::read_dir(lab.state.path())
        .expect("state dir")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("journal-") && name.ends_with(".json") {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
            return v["steps"][step]["state"]
                .as_str()
                .unwrap_or("pending")
                .to_string();
        }
    }
    "no journal".into()
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rollback(lab: &Lab, to: Option<&str>) -> std::process::Output {
    let c = lab.config().to_string_lossy().to_string();
    let mut args = vec!["rollback", "--config", &c, "--yes"];
    if let Some(t) = to {
        args.extend(["--to", t]);
    }
    lab.pgrepl(&args)
}

#[test]
fn full_apply_then_full_rollback_restores_everything() {
    let _turn = common::serial();
    let lab = Lab::up("rb", "10.77.2");
    lived_in_hosts(&lab);
    // A DBA's own choice, which pgrepl must keep.
    lab.sh(
        Host::Primary,
        &format!("echo \"synchronous_commit = 'local'\" >> {CONF}/postgresql.conf && pg_ctlcluster 15 main reload"),
    );
    let before = config_sums(&lab);
    assert_eq!(
        lab.psql(Host::Primary, "SHOW listen_addresses;"),
        "localhost"
    );

    assert_ok(&lab.apply(&lab.config(), &[]), "apply");
    assert!(streams(&lab));
    // Listening widened by the address the standby uses, not to every interface.
    assert_eq!(
        lab.psql(Host::Primary, "SHOW listen_addresses;"),
        format!("localhost,{}", lab.ip(Host::Primary))
    );
    assert_eq!(lab.psql(Host::Primary, "SHOW synchronous_commit;"), "local");
    assert_ne!(
        config_sums(&lab),
        before,
        "apply should have edited the config"
    );
    assert_eq!(
        lab.sh(
            Host::Standby,
            &format!("test -e {DATA}/MARKER && echo yes || echo no")
        ),
        "no"
    );

    let out = rollback(&lab, None);
    assert_ok(&out, "rollback");
    assert_eq!(
        config_sums(&lab),
        before,
        "config files differ after rollback"
    );
    assert_eq!(
        lab.psql(
            Host::Primary,
            "SELECT count(*) FROM pg_roles WHERE rolname = 'replica';"
        ),
        "0"
    );
    assert_eq!(
        lab.sh(Host::Standby, &format!("cat {DATA}/MARKER")),
        "mine",
        "standby's old data dir is not back"
    );
    assert_eq!(lab.psql(Host::Primary, "SELECT v FROM keep;"), "precious");
    // The primary runs with its restored configuration, and nothing of pgrepl's is left.
    assert_eq!(
        lab.psql(Host::Primary, "SHOW listen_addresses;"),
        "localhost"
    );
    assert_eq!(
        lab.psql(
            Host::Primary,
            "SELECT count(*) FROM pg_class WHERE relname = 'pgrepl_canary';"
        ),
        "0"
    );
    assert_eq!(
        lab.sh(
            Host::Primary,
            &format!("ls -a {CONF} | grep -c pgrepl || true")
        ),
        "0"
    );
    assert_eq!(
        lab.sh(
            Host::Standby,
            "ls -a /var/lib/postgresql /var/lib/postgresql/15 | grep -c pgrepl || true"
        ),
        "0"
    );
    assert_eq!(
        lab.sh(Host::Standby, "pg_lsclusters -h | awk '{print $4}'"),
        "down",
        "standby was stopped before"
    );

    // Rolling back again is a no-op.
    let again = rollback(&lab, None);
    assert_ok(&again, "second rollback");
    assert_eq!(config_sums(&lab), before);
}

#[test]
fn rollback_of_base_backup_alone_then_apply_from_there_streams_again() {
    let _turn = common::serial();
    let lab = Lab::up("rb", "10.77.2");
    assert_ok(&lab.apply(&lab.config(), &[]), "apply");
    assert!(streams(&lab));
    let primary_sums = config_sums(&lab);

    assert_ok(
        &rollback(&lab, Some("base-backup")),
        "rollback --to base-backup",
    );
    assert_eq!(
        lab.psql(Host::Primary, "SELECT count(*) FROM pg_stat_replication;"),
        "0"
    );
    assert_eq!(
        config_sums(&lab),
        primary_sums,
        "the primary's steps were not to be touched"
    );
    assert_eq!(
        lab.psql(
            Host::Primary,
            "SELECT count(*) FROM pg_roles WHERE rolname = 'replica';"
        ),
        "1"
    );
    assert_eq!(journal_state(&lab, "base-backup"), "rolled-back");
    assert_eq!(journal_state(&lab, "whitelist"), "done");

    let out = lab.apply(&lab.config(), &["--from", "base-backup"]);
    assert_ok(&out, "apply --from base-backup");
    assert!(
        text(&out).contains("==> base-backup: done"),
        "{}",
        text(&out)
    );
    assert!(streams(&lab));
}

#[test]
fn a_failed_step_can_be_fixed_and_retried_without_duplicates() {
    let _turn = common::serial();
    let lab = Lab::up("rb", "10.77.2");
    assert_ok(
        &lab.apply(&lab.config(), &["--to", "whitelist"]),
        "apply --to whitelist",
    );
    // Break it: the role's password no longer matches what the standby will use.
    lab.psql(
        Host::Primary,
        "ALTER ROLE replica PASSWORD 'something else';",
    );
    let out = lab.apply(&lab.config(), &["--from", "base-backup"]);
    assert!(
        !out.status.success(),
        "base-backup should fail:\n{}",
        text(&out)
    );
    let t = text(&out);
    assert!(t.contains("password authentication failed"), "{t}");
    assert!(t.contains("hint:"), "no hint:\n{t}");
    assert_eq!(journal_state(&lab, "base-backup"), "failed");

    // Fix: re-running from replica-role resets the password; base-backup finishes the
    // half-done copy (its data directory was already moved aside).
    let out = lab.apply(&lab.config(), &["--from", "replica-role"]);
    assert_ok(&out, "retry");
    assert!(streams(&lab));
    let hba = format!("{CONF}/pg_hba.conf");
    assert_eq!(
        lab.sh(
            Host::Primary,
            &format!("grep -c '^host    replication     replica ' {hba}")
        ),
        "1"
    );
    assert_eq!(
        lab.sh(
            Host::Standby,
            "ls -d /var/lib/postgresql/15/main.pgrepl-*.old | wc -l"
        ),
        "1"
    );
}

#[test]
fn killed_during_base_backup_then_rollback_or_retry() {
    let _turn = common::serial();
    let lab = Lab::up("rb", "10.77.2");
    lived_in_hosts(&lab);
    assert_ok(
        &lab.apply(&lab.config(), &["--to", "whitelist"]),
        "apply --to whitelist",
    );
    let pause = lab.state.path().join("pause");

    for round in ["rollback", "retry"] {
        // Hold the engine right after the old data directory was moved aside, then SIGKILL.
        let mut child = spawn_apply(&lab, &["--from", "base-backup"]);
        wait_until("the move aside", Duration::from_secs(60), || {
            transcript(&lab).contains("moved /var/lib/postgresql/15/main aside")
        });
        std::fs::write(&pause, "").unwrap();
        wait_until("the pause", Duration::from_secs(30), || {
            transcript(&lab)
                .matches("paused before the next command")
                .count()
                > 0
        });
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        std::fs::remove_file(&pause).unwrap();
        assert_eq!(
            journal_state(&lab, "base-backup"),
            "running",
            "killed mid-step"
        );
        assert_eq!(
            lab.sh(
                Host::Standby,
                &format!("test -e {DATA}/MARKER && echo yes || echo no")
            ),
            "no"
        );

        if round == "rollback" {
            let out = rollback(&lab, Some("base-backup"));
            assert_ok(&out, "rollback after kill");
            assert!(
                text(&out).contains("==> base-backup: interrupted"),
                "{}",
                text(&out)
            );
            assert_eq!(lab.sh(Host::Standby, &format!("cat {DATA}/MARKER")), "mine");
        } else {
            let out = lab.apply(&lab.config(), &["--from", "base-backup"]);
            assert_ok(&out, "apply after kill");
            assert!(streams(&lab));
        }
        // Start the next round with an empty transcript so its waits see only new lines.
        for e in std::fs::read_dir(lab.state.path()).unwrap().flatten() {
            if e.file_name().to_string_lossy().starts_with("transcript-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    // The standby's original directory is still kept aside after the successful retry.
    assert_eq!(
        lab.sh(
            Host::Standby,
            "cat /var/lib/postgresql/15/main.pgrepl-*.old/MARKER"
        ),
        "mine"
    );
}

#[test]
fn pause_then_resume_during_apply() {
    let _turn = common::serial();
    let lab = Lab::up("rb", "10.77.2");
    let pause = lab.state.path().join("pause");
    std::fs::create_dir_all(lab.state.path()).unwrap();
    let mut child = spawn_apply(&lab, &[]);
    wait_until("the install step", Duration::from_secs(30), || {
        transcript(&lab).contains("==> install: running")
    });
    std::fs::write(&pause, "").unwrap();
    wait_until("the pause", Duration::from_secs(30), || {
        transcript(&lab).contains("paused before the next command")
    });
    let held = transcript(&lab).len();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(transcript(&lab).len(), held, "commands ran while paused");
    assert!(
        child.try_wait().unwrap().is_none(),
        "apply ended while paused"
    );
    std::fs::remove_file(&pause).unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "apply after resume:\n{}",
        transcript(&lab)
    );
    assert!(transcript(&lab).contains("resumed"));
    assert!(streams(&lab));
}

#[test]
fn a_role_that_existed_is_put_back_not_dropped() {
    let _turn = common::serial();
    let lab = Lab::up("rb", "10.77.2");
    lived_in_hosts(&lab);
    lab.psql(
        Host::Primary,
        "CREATE ROLE replica LOGIN NOREPLICATION PASSWORD 'theirs';",
    );
    let role = "SELECT rolreplication, rolpassword FROM pg_authid WHERE rolname = 'replica';";
    let before = lab.psql(Host::Primary, role);
    // Someone's role without REPLICATION is not taken over unless asked.
    let refused = lab.apply(&lab.config(), &["--to", "replica-role"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("--adopt-role"),
        "{}",
        text(&refused)
    );
    assert_eq!(
        lab.psql(Host::Primary, role),
        before,
        "changed although refused"
    );
    assert_ok(
        &lab.apply(&lab.config(), &["--to", "replica-role", "--adopt-role"]),
        "apply --to replica-role --adopt-role",
    );
    let during = lab.psql(Host::Primary, role);
    assert!(during.starts_with("t|") && during != before, "{during}");
    assert_ok(
        &rollback(&lab, Some("replica-role")),
        "rollback --to replica-role",
    );
    assert_eq!(
        lab.psql(Host::Primary, role),
        before,
        "flags and password hash restored"
    );
    assert_eq!(
        lab.sh(
            Host::Primary,
            "ls -a /var/lib/postgresql | grep -c pgrepl || true"
        ),
        "0"
    );
}

#[test]
fn a_stopped_standby_is_started_again_not_copied_again() {
    let _turn = common::serial();
    let lab = Lab::up("rb", "10.77.2");
    assert_ok(&lab.apply(&lab.config(), &[]), "apply");
    assert!(streams(&lab));
    lab.sh(Host::Standby, "pg_ctlcluster 15 main stop");
    let c = lab.config().to_string_lossy().to_string();
    let status = lab.pgrepl(&["status", "--config", &c]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("base-backup   pending"),
        "a stopped standby is not replicating:\n{}",
        text(&status)
    );
    let out = lab.apply(&lab.config(), &["--from", "base-backup"]);
    assert_ok(&out, "apply --from base-backup");
    assert!(
        !text(&out).contains("pg_basebackup -h"),
        "copied again:\n{}",
        text(&out)
    );
    assert!(streams(&lab));
    assert_eq!(
        lab.sh(
            Host::Standby,
            "ls -d /var/lib/postgresql/15/main.pgrepl-* | grep -c replaced || true"
        ),
        "0"
    );
}

/// Hazard 7 of issue 14: a copy someone started and promoted by hand (pgrepl's own start
/// marker absent) holds writes: a new base backup keeps it aside, never deletes it.
#[test]
fn a_copy_promoted_by_hand_is_kept_by_the_next_base_backup() {
    let _turn = common::serial();
    let lab = Lab::up("rb", "10.77.2");
    assert_ok(&lab.apply(&lab.config(), &[]), "apply");
    assert!(streams(&lab));
    lab.sh(
        Host::Standby,
        &format!("rm -f {DATA}.pgrepl-*.started && pg_ctlcluster 15 main promote"),
    );
    assert!(lab.wait_for(
        Host::Standby,
        "SELECT pg_is_in_recovery();",
        "f",
        Duration::from_secs(20)
    ));
    lab.psql(Host::Standby, "CREATE TABLE written_after_promote (v int);");

    assert_ok(&lab.apply(&lab.config(), &[]), "apply again");
    assert!(streams(&lab));
    let kept = lab.sh(
        Host::Standby,
        &format!("ls -d {DATA}.pgrepl-replaced-* | wc -l"),
    );
    assert_eq!(kept, "1", "the promoted copy was not kept");
}

/// The tutorial's own step, on request: the postgres role gets a password (its verifier
/// computed by pgrepl), and rollback takes it back.
#[test]
fn the_postgres_role_gets_the_tutorials_password_and_rollback_takes_it_back() {
    let _turn = common::serial();
    let lab = Lab::up("rb", "10.77.2");
    let path = lab.config_with("[postgres]\n", "[postgres]\nset_postgres_password = true\n");
    let c = path.to_string_lossy().to_string();
    let login = |lab: &Lab| {
        lab.ssh(
            Host::Primary,
            "PGPASSWORD='tut0rial pw' PGCONNECT_TIMEOUT=5 psql -X -At -h 127.0.0.1 -U postgres -d postgres -c 'SELECT 1'",
            "",
        )
        .status
        .success()
    };

    let out = lab.pgrepl(&["apply", "--config", &c, "--yes"]);
    assert!(
        !out.status.success(),
        "no postgres password given:\n{}",
        text(&out)
    );
    assert!(
        text(&out).contains("PGREPL_POSTGRES_PASSWORD"),
        "{}",
        text(&out)
    );

    let env = [
        ("PGREPL_REPLICA_PASSWORD", common::PASSWORD),
        ("PGREPL_POSTGRES_PASSWORD", "tut0rial pw"),
    ];
    let out = lab.pgrepl_with(&["apply", "--config", &c, "--yes"], &env);
    assert_ok(&out, "apply with the postgres password");
    assert!(
        !text(&out).contains("tut0rial pw"),
        "the password was shown"
    );
    assert!(
        !lab.state_files_text().contains("tut0rial pw"),
        "the password was written down"
    );
    assert!(streams(&lab));
    assert!(
        login(&lab),
        "postgres does not log in with its new password"
    );

    let out = lab.pgrepl_with(&["rollback", "--config", &c, "--yes"], &env);
    assert_ok(&out, "rollback");
    assert!(!login(&lab), "rollback left the postgres password in place");
}
