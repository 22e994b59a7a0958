//! Servers that applications already use: the DBA's pg_hba.conf rules stay in charge, a
//! wide network and someone else's role need an explicit yes, and a rule pgrepl cannot
//! get past stops it before the primary is touched. Checked with PostgreSQL itself.

mod common;

use common::{assert_ok, assert_streams, lived_in_hosts, text, Host, Lab, CONF};

const HBA: &str = "/etc/postgresql/15/main/pg_hba.conf";

/// A login from the standby's host to the primary as `who`.
fn login_from_standby(lab: &Lab, who: &str, password: &str) -> bool {
    let out = lab.ssh(
        Host::Standby,
        &format!(
            "runuser -u postgres -- env PGPASSWORD={password} PGCONNECT_TIMEOUT=5 psql -X -At -h {} -U {who} -d postgres -c 'SELECT 1'",
            lab.ip(Host::Primary)
        ),
        "",
    );
    out.status.success()
}

fn started_at(lab: &Lab) -> String {
    lab.psql(Host::Primary, "SELECT pg_postmaster_start_time();")
}

#[test]
fn the_dbas_rules_stay_in_charge_and_wide_or_taken_choices_need_a_yes() {
    let _turn = common::serial();
    let lab = Lab::up("use", "10.77.8");
    lived_in_hosts(&lab);
    let subnet = format!("{}.0/24", lab.prefix());
    // The DBA's rules: the application role may log in from nowhere on the standby's
    // network (a reject at the top), and replication stays possible.
    lab.psql(
        Host::Primary,
        "CREATE ROLE app LOGIN PASSWORD 'app-password';",
    );
    lab.sh(
        Host::Primary,
        &format!("sed -i '1i host all all {subnet} reject' {HBA} && pg_ctlcluster 15 main reload"),
    );
    assert!(!login_from_standby(&lab, "app", "app-password"));

    // A wide network: refused before anything changes, unless asked for.
    let wide = lab.config_with(&format!("\"{subnet}\""), "\"0.0.0.0/1\"");
    let hba_before = lab.sh(Host::Primary, &format!("sha256sum {HBA}"));
    let out = lab.apply(&wide, &[]);
    assert!(!out.status.success(), "0.0.0.0/1 was taken: {}", text(&out));
    assert!(text(&out).contains("--allow-wide-cidr"), "{}", text(&out));
    assert_eq!(
        lab.sh(Host::Primary, &format!("sha256sum {HBA}")),
        hba_before
    );
    assert_eq!(
        lab.psql(
            Host::Primary,
            "SELECT count(*) FROM pg_roles WHERE rolname = 'replica';"
        ),
        "0",
        "a step ran although the network was refused"
    );

    // Someone else's role, here the superuser: never taken over.
    let taken = lab.config_with(
        "replication_user = \"replica\"",
        "replication_user = \"postgres\"",
    );
    let hash = "SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'postgres';";
    let before = lab.psql(Host::Primary, hash);
    let out = lab.apply(&taken, &["--adopt-role"]);
    assert!(
        !out.status.success(),
        "the superuser was taken: {}",
        text(&out)
    );
    assert!(text(&out).contains("superuser"), "{}", text(&out));
    assert_eq!(lab.psql(Host::Primary, hash), before);

    // The ordinary apply: replication works and the DBA's reject still holds, since
    // pgrepl adds only a replication line, after the existing rules.
    assert_ok(&lab.apply(&lab.config(), &[]), "apply");
    assert_streams(&lab);
    assert!(
        !login_from_standby(&lab, "app", "app-password"),
        "pgrepl's lines opened the primary to the application role"
    );
    let hba = lab.sh(Host::Primary, &format!("cat {HBA}"));
    assert!(!hba.contains(&format!("host    all             all             {subnet}")));
    let ours = hba
        .lines()
        .position(|l| l.starts_with("host    replication     replica"));
    let theirs = hba.lines().position(|l| l.ends_with("reject"));
    assert!(
        ours > theirs,
        "pgrepl's line must come after the DBA's:\n{hba}"
    );
    let c = lab.config().to_string_lossy().to_string();
    assert_ok(
        &lab.pgrepl(&["rollback", "--config", &c, "--yes"]),
        "rollback",
    );

    // A rule that rejects the standby's replication login: the step stops before the
    // primary is restarted, naming the line.
    lab.sh(
        Host::Primary,
        &format!("sed -i '1i host replication all {subnet} reject' {HBA}"),
    );
    let up_since = started_at(&lab);
    let sums = common::config_sums(&lab);
    let out = lab.apply(&lab.config(), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{CONF}/pg_hba.conf line 1")),
        "{}",
        text(&out)
    );
    assert_eq!(started_at(&lab), up_since, "the primary was restarted");
    assert_eq!(
        common::config_sums(&lab),
        sums,
        "the refused files were left for the next reload"
    );
}

#[test]
fn links_planted_by_the_postgres_account_gain_it_nothing() {
    let _turn = common::serial();
    let lab = Lab::up("use", "10.77.8");
    lived_in_hosts(&lab);
    let id = pgrepl::engine::setup_id(
        &format!("root@{}:22", lab.ip(Host::Primary)),
        &format!("root@{}:22", lab.ip(Host::Standby)),
    );
    // A root-only file the postgres account wants written, and links to it at every name
    // an earlier pgrepl used for its temporary files.
    let victim = "/root/victim";
    let plant = |h: Host, names: &[String]| {
        let mut script = format!("echo untouched > {victim} && chmod 600 {victim}");
        for n in names {
            script.push_str(&format!(" && runuser -u postgres -- ln -s {victim} {n}"));
        }
        lab.sh(h, &script);
    };
    plant(
        Host::Primary,
        &[
            format!("{CONF}/pg_hba.conf.pgrepl-new"),
            format!("{CONF}/postgresql.conf.pgrepl-new"),
        ],
    );
    plant(
        Host::Standby,
        &[
            format!("/var/lib/postgresql/.pgrepl-{id}.pgpass.new"),
            format!("{CONF}/postgresql.conf.pgrepl-new"),
        ],
    );
    // A DBA's own layout: pg_hba.conf is a link to the real file; it stays a link.
    lab.sh(
        Host::Primary,
        &format!(
            "runuser -u postgres -- sh -c 'mv {HBA} {CONF}/hba-real.conf && ln -s hba-real.conf {HBA}'"
        ),
    );
    let real_before = lab.sh(Host::Primary, &format!("sha256sum {CONF}/hba-real.conf"));

    assert_ok(&lab.apply(&lab.config(), &[]), "apply");
    assert_streams(&lab);
    for h in [Host::Primary, Host::Standby] {
        assert_eq!(
            lab.sh(h, &format!("cat {victim}; stat -c %U {victim}")),
            "untouched\nroot",
            "{h:?}: root wrote through a link the postgres account planted"
        );
    }
    assert_eq!(
        lab.sh(Host::Primary, &format!("readlink {HBA}")),
        "hba-real.conf",
        "the linked pg_hba.conf was replaced instead of edited at its target"
    );
    assert!(lab
        .sh(Host::Primary, &format!("cat {CONF}/hba-real.conf"))
        .contains("host    replication     replica"));

    let c = lab.config().to_string_lossy().to_string();
    assert_ok(
        &lab.pgrepl(&["rollback", "--config", &c, "--yes"]),
        "rollback",
    );
    assert_eq!(
        lab.sh(Host::Primary, &format!("sha256sum {CONF}/hba-real.conf")),
        real_before,
        "the link's target is not restored byte for byte"
    );
    assert_eq!(
        lab.sh(Host::Primary, &format!("readlink {HBA}")),
        "hba-real.conf"
    );
}

/// A process on the primary host that lives until the returned child is killed.
fn hold(lab: &Lab, script: &str) -> std::process::Child {
    std::process::Command::new("ssh")
        .arg("-F")
        .arg(lab.dir.join("ssh_config"))
        .arg(format!("root@{}", lab.ip(Host::Primary)))
        .arg(script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ssh starts")
}

const SESSIONS: &str = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid();";

/// An application's session on the primary, open until the child is killed.
fn client(lab: &Lab) -> std::process::Child {
    let child = hold(
        lab,
        "cd / && runuser -u postgres -- psql -X -q -c 'SELECT pg_sleep(120)'",
    );
    wait_until("the client session", || {
        lab.psql(Host::Primary, SESSIONS) == "1"
    });
    child
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed().as_secs() < 20,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_restart_is_said_asked_and_undone_when_it_fails_a_reload_when_enough() {
    let _turn = common::serial();
    let lab = Lab::up("use", "10.77.8");
    lived_in_hosts(&lab);
    let sessions = SESSIONS;
    let mut session = client(&lab);
    let up_since = started_at(&lab);

    // Clients connected: headless --yes does not restart behind their back.
    let out = lab.apply(&lab.config(), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("--allow-restart"), "{}", text(&out));
    assert!(text(&out).contains("1 client session"), "{}", text(&out));
    assert_eq!(
        started_at(&lab),
        up_since,
        "restarted with a client connected"
    );
    assert_eq!(lab.psql(Host::Primary, sessions), "1");
    assert_ok(
        &lab.apply(&lab.config(), &["--allow-restart"]),
        "apply --allow-restart",
    );
    assert_streams(&lab);
    let _ = session.kill();
    let _ = session.wait();

    // Only the allowed network changes: a reload, no restart, even with a client on.
    let mut session = client(&lab);
    let up_since = started_at(&lab);
    let narrow = lab.config_with(
        &format!("\"{}.0/24\"", lab.prefix()),
        &format!("\"{}/32\"", lab.ip(Host::Standby)),
    );
    assert_ok(&lab.apply(&narrow, &[]), "apply with a narrower network");
    assert_eq!(
        started_at(&lab),
        up_since,
        "restarted for a pg_hba.conf change"
    );
    assert_eq!(lab.psql(Host::Primary, sessions), "1", "the client was cut");
    assert!(lab
        .sh(Host::Primary, &format!("cat {HBA}"))
        .contains(&format!("{}/32", lab.ip(Host::Standby))));
    let _ = session.kill();
    let _ = session.wait();
    let c = lab.config().to_string_lossy().to_string();
    assert_ok(
        &lab.pgrepl(&["rollback", "--config", &c, "--yes"]),
        "rollback",
    );

    // A restart that cannot come back: the DBA runs with wal_level = minimal set by
    // ALTER SYSTEM (it wins over postgresql.conf) and no WAL senders; pgrepl's senders
    // cannot start with it. The files go back and the server runs again as it was.
    lab.psql(Host::Primary, "ALTER SYSTEM SET wal_level = minimal;");
    lab.sh(
        Host::Primary,
        &format!(
            "echo 'max_wal_senders = 0' >> {CONF}/postgresql.conf && pg_ctlcluster 15 main restart"
        ),
    );
    let sums = common::config_sums(&lab);
    let out = lab.apply(&lab.config(), &["--allow-restart"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("did not come back"), "{}", text(&out));
    assert_eq!(
        common::config_sums(&lab),
        sums,
        "the files were not put back"
    );
    assert_eq!(
        lab.psql(Host::Primary, "SELECT 1;"),
        "1",
        "the primary is down"
    );
    assert_eq!(lab.psql(Host::Primary, "SHOW wal_level;"), "minimal");
    assert!(
        text(&out).contains("wal_level"),
        "the log's lines are shown: {}",
        text(&out)
    );
}

#[test]
fn swapped_hosts_never_replace_the_primary_in_use() {
    let _turn = common::serial();
    let lab = Lab::up("use", "10.77.8");
    lived_in_hosts(&lab);
    let (p, s) = (lab.ip(Host::Primary), lab.ip(Host::Standby));
    let text_of = std::fs::read_to_string(lab.config()).expect("lab config");
    let swapped = text_of
        .replacen(&format!("host = \"{p}\""), "host = \"SWAP\"", 1)
        .replacen(&format!("host = \"{s}\""), &format!("host = \"{p}\""), 1)
        .replacen("host = \"SWAP\"", &format!("host = \"{s}\""), 1);
    let path = lab.state.path().join("swapped.toml");
    std::fs::write(&path, swapped).expect("write config");

    let out = lab.apply(&path, &["--allow-restart"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("runs as a primary"), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    // The real primary still serves its data, from its own directory.
    assert_eq!(lab.psql(Host::Primary, "SELECT v FROM keep;"), "precious");
    assert_eq!(lab.psql(Host::Primary, "SELECT pg_is_in_recovery();"), "f");
    assert_eq!(
        lab.sh(
            Host::Primary,
            "ls -a /var/lib/postgresql/15 | grep -c pgrepl || true"
        ),
        "0",
        "its data directory was moved"
    );
}

/// Hazard 7 of issue 14: pgrepl edits the files the server reads. An hba file elsewhere
/// (`hba_file`) is the one edited; a data directory elsewhere is refused before anything
/// changes.
#[test]
fn the_files_edited_are_the_ones_the_server_reads() {
    let _turn = common::serial();
    let lab = Lab::up("use", "10.77.8");
    let site = format!("{CONF}/site_hba.conf");
    lab.sh(
        Host::Primary,
        &format!(
            "pg_createcluster 15 main >/dev/null && cp {HBA} {site} && chown postgres:postgres {site} \
             && echo \"hba_file = '{site}'\" >> {CONF}/postgresql.conf && pg_ctlcluster 15 main start"
        ),
    );
    let untouched = lab.sh(Host::Primary, &format!("sha256sum {HBA}"));
    assert_ok(&lab.apply(&lab.config(), &[]), "apply");
    assert_streams(&lab);
    assert_eq!(
        lab.sh(Host::Primary, &format!("sha256sum {HBA}")),
        untouched
    );
    assert!(
        lab.sh(
            Host::Primary,
            &format!("grep -cE 'host +replication +replica' {site}")
        ) == "1",
        "the replication line is not in the file the server reads"
    );

    // A standby whose cluster lives elsewhere: not moved aside, not replaced. A fresh
    // lab: the first goes down before it.
    drop(lab);
    let lab = Lab::up("use", "10.77.8");
    lab.sh(
        Host::Standby,
        // Under /var/lib/postgresql, which each lab host has to itself.
        "pg_createcluster 15 main -d /var/lib/postgresql/elsewhere >/dev/null \
         && echo mine > /var/lib/postgresql/elsewhere/MARKER",
    );
    let out = lab.apply(&lab.config(), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("/var/lib/postgresql/elsewhere"),
        "the refusal names the server's data directory:\n{}",
        text(&out)
    );
    assert_eq!(
        lab.sh(Host::Standby, "cat /var/lib/postgresql/elsewhere/MARKER"),
        "mine"
    );
}
