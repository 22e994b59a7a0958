//! One primary, two standbys: both copied at once and streaming, a canary row read on
//! each; one standby rolled back alone while the other keeps streaming; then brought back
//! without copying the other again.

mod common;

use std::time::Duration;

use common::{assert_ok, text, Host, Lab, DATA};

/// The application names streaming from the primary, sorted.
fn streaming(lab: &Lab) -> Vec<String> {
    let rows = lab.psql(
        Host::Primary,
        "SELECT client_addr FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1;",
    );
    rows.lines().map(str::to_string).collect()
}

/// A row written on the primary now is read on `standby`.
fn row_arrives(lab: &Lab, standby: Host, token: &str) -> bool {
    lab.psql(
        Host::Primary,
        &format!("CREATE TABLE IF NOT EXISTS e2e (v text); INSERT INTO e2e VALUES ('{token}');"),
    );
    lab.wait_for(
        standby,
        &format!("SELECT count(*) FROM e2e WHERE v = '{token}';"),
        "1",
        Duration::from_secs(20),
    )
}

#[test]
fn two_standbys_stream_and_one_is_rolled_back_alone() {
    let lab = Lab::up_standbys("std3", "10.77.6", 2);
    let c = lab.config().to_string_lossy().to_string();
    let config = std::fs::read_to_string(lab.config()).expect("lab config");
    assert_eq!(config.matches("[[standby]]").count(), 2, "{config}");
    let (s1, s2) = (lab.ip(Host::Standby), lab.ip(Host::Standby2));

    let out = lab.apply(&lab.config(), &[]);
    assert_ok(&out, "apply");
    let said = text(&out);
    for tag in ["[standby]", "[standby2]"] {
        assert!(
            said.lines()
                .any(|l| l.starts_with(tag) && l.contains("pg_basebackup -h")),
            "no base backup on {tag}:\n{said}"
        );
    }
    assert_eq!(streaming(&lab), vec![s1.clone(), s2.clone()]);
    assert!(row_arrives(&lab, Host::Standby, "first-1"));
    assert!(row_arrives(&lab, Host::Standby2, "first-2"));

    // verify: one JSON object per standby, both passed.
    let out = lab.pgrepl(&["verify", "--json", "--config", &c]);
    assert_ok(&out, "verify --json");
    let reports: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("a stream of JSON objects");
    let hosts: Vec<&str> = reports.iter().filter_map(|r| r["host"].as_str()).collect();
    assert_eq!(hosts, vec!["standby", "standby2"]);
    assert!(reports.iter().all(|r| r["passed"] == true), "{reports:?}");

    let status = lab.pgrepl(&["status", "--config", &c]);
    assert_ok(&status, "status");
    let said = text(&status);
    for host in ["standby ", "standby2 "] {
        assert!(
            said.lines()
                .any(|l| l.starts_with(host) && l.trim_end().ends_with("streaming")),
            "status of {host}:\n{said}"
        );
    }

    // The second standby alone goes back to what it was (its scratch cluster).
    let out = lab.pgrepl(&[
        "rollback",
        "--yes",
        "--to",
        "base-backup",
        "--host",
        "standby2",
        "--config",
        &c,
    ]);
    assert_ok(&out, "rollback --host standby2");
    assert_eq!(streaming(&lab), vec![s1.clone()]);
    assert!(row_arrives(&lab, Host::Standby, "after-rollback"));
    assert_eq!(
        lab.sh(
            Host::Standby2,
            &format!("[ -e {DATA}/PG_VERSION ] && [ ! -e {DATA}/standby.signal ] && echo original || echo copy")
        ),
        "original"
    );
    let status = lab.pgrepl(&["status", "--config", &c]);
    assert!(
        text(&status).contains("base-backup   pending"),
        "base-backup is no longer done everywhere:\n{}",
        text(&status)
    );

    // apply copies the second standby again, and only it.
    let out = lab.apply(&lab.config(), &[]);
    assert_ok(&out, "apply after the rollback");
    let said = text(&out);
    assert!(
        !said
            .lines()
            .any(|l| l.starts_with("[standby] ") && l.contains("pg_basebackup -h")),
        "the streaming standby was copied again:\n{said}"
    );
    assert_eq!(streaming(&lab), vec![s1, s2]);
    assert!(row_arrives(&lab, Host::Standby2, "again-2"));

    // Other host names are refused before anything happens.
    let out = lab.pgrepl(&["rollback", "--yes", "--host", "standby3", "--config", &c]);
    assert!(!out.status.success());
    assert!(text(&out).contains("standby3"), "{}", text(&out));
}

/// Hazard 6 of issue 14: a re-run with another password changes the role, and the
/// standby's stored password with it, so the standby still logs in after a restart.
#[test]
fn a_new_password_reaches_the_standby() {
    let lab = Lab::up("pwchg", "10.77.14");
    let c = lab.config().to_string_lossy().to_string();
    assert_ok(&lab.apply(&lab.config(), &[]), "apply");
    common::assert_streams(&lab);

    let new = "an0ther 'pass' $(id)";
    let env = [("PGREPL_REPLICA_PASSWORD", new)];
    let plan = lab.pgrepl_with(&["plan", "--config", &c], &env);
    assert_ok(&plan, "plan with the new password");
    assert!(
        text(&plan).contains("password of role replica changes"),
        "the plan says the password changes:\n{}",
        text(&plan)
    );
    // Until the role changes, what the standby stored still logs in.
    let status = lab.pgrepl_with(&["status", "--config", &c], &env);
    let said = text(&status);
    for step in ["replica-role  pending", "base-backup   done"] {
        assert!(said.contains(step), "status with the new password:\n{said}");
    }

    let out = lab.pgrepl_with(&["apply", "--config", &c, "--yes"], &env);
    assert_ok(&out, "apply with the new password");
    assert!(
        !text(&out).contains("pg_basebackup -h"),
        "a new password needs no new copy:\n{}",
        text(&out)
    );
    // The next connection is the proof: restart the standby, it must stream again.
    lab.sh(Host::Standby, "pg_ctlcluster 15 main restart");
    assert!(
        lab.wait_for(
            Host::Primary,
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming';",
            "1",
            Duration::from_secs(30)
        ),
        "the standby does not log in with what it stored"
    );
    common::assert_streams(&lab);
    let again = lab.pgrepl_with(
        &["apply", "--config", &c, "--yes", "--from", "verify"],
        &env,
    );
    assert_ok(&again, "verify with the new password");
    assert!(
        text(&again).contains("stored password logs in: true"),
        "{}",
        text(&again)
    );
}
