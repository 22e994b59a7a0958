//! The fault suite: things that go wrong on real hosts, each on a fresh lab with a primary
//! that holds data and a standby with a cluster of its own. Each fault must end in a clear
//! error naming its cause, lose nothing, and a retry after the fix must reach streaming.
//! Prints `faults survived: N/N`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{lived_in_hosts, spawn_apply, text, Host, Lab, DATA};

const NAME: &str = "flt";
const PREFIX: &str = "10.77.15";

type Outcome = Result<(), String>;
type Fault = (&'static str, fn(&Lab) -> Outcome);

fn ensure(ok: bool, what: impl Into<String>) -> Outcome {
    if ok {
        Ok(())
    } else {
        Err(what.into())
    }
}

fn failed_saying(out: &std::process::Output, words: &[&str]) -> Outcome {
    let said = text(out);
    ensure(!out.status.success(), format!("it did not fail:\n{said}"))?;
    for w in words {
        ensure(
            said.contains(w),
            format!("the error does not say {w:?}:\n{said}"),
        )?;
    }
    Ok(())
}

fn succeeded(out: &std::process::Output, what: &str) -> Outcome {
    ensure(
        out.status.success(),
        format!("{what} failed:\n{}", text(out)),
    )
}

/// Nothing lost: the primary's data, and the standby's own cluster (in place, or moved
/// aside by a base backup).
fn nothing_lost(lab: &Lab) -> Outcome {
    ensure(
        lab.try_psql(Host::Primary, "SELECT v FROM keep;")
            .as_deref()
            == Some("precious"),
        "the primary's data",
    )?;
    let marker = lab.sh(
        Host::Standby,
        &format!("cat {DATA}/MARKER {DATA}.pgrepl-*.old/MARKER 2>/dev/null || true"),
    );
    ensure(
        marker == "mine",
        format!("the standby's own cluster: {marker:?}"),
    )
}

/// A retry after the fix reaches streaming, checked with a row on the standby.
fn retry_streams(lab: &Lab, config: &std::path::Path) -> Outcome {
    succeeded(&lab.apply(config, &[]), "the retry")?;
    let token = format!("fault-{}", std::process::id());
    lab.psql(
        Host::Primary,
        &format!("CREATE TABLE IF NOT EXISTS e2e (v text); INSERT INTO e2e VALUES ('{token}');"),
    );
    ensure(
        lab.wait_for(
            Host::Standby,
            &format!("SELECT count(*) FROM e2e WHERE v = '{token}';"),
            "1",
            Duration::from_secs(30),
        ),
        "no row reached the standby after the retry",
    )?;
    nothing_lost(lab)
}

fn in_netns(lab: &Lab, host: &str, args: &[&str]) -> Outcome {
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/pgrepl-{}-{host}", lab.name))
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    ensure(out.status.success(), format!("{args:?}: {}", text(&out)))
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Outcome {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("timed out waiting for {what}"))
}

fn pgrep(pattern: &str) -> bool {
    Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The SSH connection to the standby dies while pg_basebackup copies (its master process
/// killed); the copy is slowed down so that the kill lands inside it.
fn ssh_drops_during_the_base_backup(lab: &Lab) -> Outcome {
    succeeded(
        &lab.apply(&lab.config(), &["--to", "whitelist"]),
        "apply --to whitelist",
    )?;
    lab.psql(
        Host::Primary,
        "CREATE TABLE bulk AS SELECT g, repeat('x', 400) AS pad FROM generate_series(1, 100000) g;",
    );
    in_netns(
        lab,
        "primary",
        &[
            "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "24mbit", "burst", "64kb",
            "latency", "400ms",
        ],
    )?;
    let mut child = spawn_apply(lab, &["--from", "base-backup"]);
    let primary = lab.ip(Host::Primary);
    let standby = lab.ip(Host::Standby);
    let copying = wait_for("pg_basebackup", Duration::from_secs(60), || {
        pgrep(&format!("pg_basebackup -h {primary}"))
    });
    let killed = copying.and_then(|_| {
        let out = Command::new("pkill")
            .args([
                "-f",
                &format!("ssh .*-M.*[ @]{}( |$)", standby.replace('.', "\\.")),
            ])
            .output()
            .map_err(|e| e.to_string())?;
        ensure(out.status.success(), "no SSH master to the standby to kill")
    });
    let status = child.wait().map_err(|e| e.to_string())?;
    in_netns(
        lab,
        "primary",
        &["tc", "qdisc", "del", "dev", "eth0", "root"],
    )?;
    killed?;
    ensure(!status.success(), "apply went on without its connection")?;
    // The transcript (not the journal, which names every step anyway) says which step
    // failed, and the lost connection on which host.
    let transcript: String = std::fs::read_dir(lab.state.path())
        .map_err(|e| e.to_string())?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("transcript-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    ensure(
        transcript.contains("==> base-backup: failed")
            && transcript.contains("step base-backup failed")
            && transcript.contains("standby"),
        format!("the transcript does not say what failed where:\n{transcript}"),
    )?;
    retry_streams(lab, &lab.config())
}

/// The primary is down when the standby wants to copy it.
fn the_primary_is_down_at_the_base_backup(lab: &Lab) -> Outcome {
    succeeded(
        &lab.apply(&lab.config(), &["--to", "whitelist"]),
        "apply --to whitelist",
    )?;
    lab.sh(Host::Primary, "pg_ctlcluster 15 main stop");
    let out = lab.apply(&lab.config(), &["--from", "base-backup"]);
    failed_saying(&out, &["base-backup", "primary"])?;
    nothing_lost_but_primary_down(lab)?;
    lab.sh(Host::Primary, "pg_ctlcluster 15 main start");
    retry_streams(lab, &lab.config())
}

fn nothing_lost_but_primary_down(lab: &Lab) -> Outcome {
    let marker = lab.sh(Host::Standby, &format!("cat {DATA}/MARKER"));
    ensure(marker == "mine", "the standby's cluster was touched")
}

/// Someone removes pgrepl's line from pg_hba.conf: verify says replication is broken, and
/// a plain re-run puts the line back.
fn the_hba_line_is_removed(lab: &Lab) -> Outcome {
    succeeded(&lab.apply(&lab.config(), &[]), "apply")?;
    lab.sh(
        Host::Primary,
        "sed -i '/pgrepl/,/pgrepl/d' /etc/postgresql/15/main/pg_hba.conf && pg_ctlcluster 15 main reload",
    );
    lab.sh(Host::Standby, "pg_ctlcluster 15 main restart");
    let c = lab.config().to_string_lossy().to_string();
    let out = lab.pgrepl(&["verify", "--config", &c]);
    ensure(
        !out.status.success(),
        format!("verify passed:\n{}", text(&out)),
    )?;
    let out = lab.pgrepl(&["status", "--config", &c]);
    ensure(
        text(&out).contains("whitelist     pending"),
        format!("status hides the missing line:\n{}", text(&out)),
    )?;
    retry_streams(lab, &lab.config())
}

/// pgrepl is killed in the middle of a step (SIGKILL right after a journal write).
fn pgrepl_is_killed_mid_step(lab: &Lab) -> Outcome {
    let c = lab.config().to_string_lossy().to_string();
    let out = lab.pgrepl_with(
        &["apply", "--config", &c, "--yes"],
        &[
            ("PGREPL_REPLICA_PASSWORD", common::PASSWORD),
            ("PGREPL_CRASH_AT_JOURNAL_WRITE", "12"),
        ],
    );
    use std::os::unix::process::ExitStatusExt;
    ensure(
        out.status.signal() == Some(9),
        "the crash hook did not fire",
    )?;
    let status = lab.pgrepl(&["status", "--config", &c]);
    succeeded(&status, "status after the kill")?;
    nothing_lost(lab)?;
    retry_streams(lab, &lab.config())
}

/// The config names the primary as the standby too.
fn the_standby_is_the_primary(lab: &Lab) -> Outcome {
    let same = lab.config_with(
        &format!("\"{}\"", lab.ip(Host::Standby)),
        &format!("\"{}\"", lab.ip(Host::Primary)),
    );
    let out = lab.apply(&same, &[]);
    failed_saying(&out, &["standby.host", &lab.ip(Host::Primary)])?;
    nothing_lost(lab)?;
    retry_streams(lab, &lab.config())
}

/// The allowed network does not hold the standby: refused before the primary is touched.
fn the_network_misses_the_standby(lab: &Lab) -> Outcome {
    let hba = "sha256sum /etc/postgresql/15/main/pg_hba.conf";
    let before = lab.sh(Host::Primary, hba);
    let wrong = lab.config_with(&format!("\"{PREFIX}.0/24\""), "\"10.99.0.0/24\"");
    let out = lab.apply(&wrong, &[]);
    failed_saying(&out, &["10.99.0.0/24", &lab.ip(Host::Standby)])?;
    ensure(lab.sh(Host::Primary, hba) == before, "pg_hba.conf changed")?;
    nothing_lost(lab)?;
    retry_streams(lab, &lab.config())
}

/// The config's PostgreSQL port is not the cluster's.
fn the_port_is_wrong(lab: &Lab) -> Outcome {
    let wrong = lab.config_with("port = 5432", "port = 5433");
    let out = lab.apply(&wrong, &[]);
    failed_saying(&out, &["5432", "5433"])?;
    nothing_lost(lab)?;
    retry_streams(lab, &lab.config())
}

/// The standby's disk fills up while it copies the primary: the copy fails saying so, the
/// standby's own cluster is kept, and once there is room a retry streams.
fn the_standby_disk_fills_up(lab: &Lab) -> Outcome {
    succeeded(
        &lab.apply(&lab.config(), &["--to", "whitelist"]),
        "apply --to whitelist",
    )?;
    // The standby's clusters move to a small file system of their own.
    lab.sh(
        Host::Standby,
        "pg_ctlcluster 15 main stop; cp -a /var/lib/postgresql/15 /var/lib/postgresql/15.full \
         && mount -t tmpfs -o size=96m,mode=0755 tmpfs /var/lib/postgresql/15 \
         && cp -a /var/lib/postgresql/15.full/. /var/lib/postgresql/15/ && rm -rf /var/lib/postgresql/15.full \
         && chown postgres:postgres /var/lib/postgresql/15",
    );
    lab.psql(
        Host::Primary,
        "CREATE TABLE bulk AS SELECT g, md5(g::text) || repeat('x', 300) AS pad FROM generate_series(1, 200000) g;",
    );
    let out = lab.apply(&lab.config(), &["--from", "base-backup"]);
    failed_saying(&out, &["base-backup", "No space left on device"])?;
    nothing_lost(lab)?;
    lab.psql(Host::Primary, "DROP TABLE bulk; CHECKPOINT;");
    retry_streams(lab, &lab.config())
}

/// Two runs at once from this machine: the second is refused at once, naming the first;
/// the first goes on to streaming.
fn two_runs_at_once(lab: &Lab) -> Outcome {
    let pause = lab.state.path().join("pause");
    std::fs::write(&pause, "").map_err(|e| e.to_string())?;
    let mut first = spawn_apply(lab, &[]);
    let lock_held = wait_for("the first run's lock", Duration::from_secs(30), || {
        std::fs::read_dir(lab.state.path()).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".lock"))
        })
    });
    let second = lab.apply(&lab.config(), &[]);
    let _ = std::fs::remove_file(&pause);
    let status = first.wait().map_err(|e| e.to_string())?;
    lock_held?;
    failed_saying(&second, &[&first.id().to_string()])?;
    ensure(status.success(), "the first run did not finish")?;
    retry_streams(lab, &lab.config())
}

/// The password the standby stored goes stale (changed by hand): status says base-backup
/// is not done, and a re-run writes it again without a new copy.
fn the_stored_password_is_wrong(lab: &Lab) -> Outcome {
    succeeded(&lab.apply(&lab.config(), &[]), "apply")?;
    lab.sh(
        Host::Standby,
        "for f in /var/lib/postgresql/.pgrepl-*.pgpass; do sed -i 's/:[^:]*$/:wrong/' \"$f\"; done",
    );
    let c = lab.config().to_string_lossy().to_string();
    let status = lab.pgrepl(&["status", "--config", &c]);
    ensure(
        text(&status).contains("base-backup   pending"),
        format!("status misses the stale password:\n{}", text(&status)),
    )?;
    let out = lab.apply(&lab.config(), &[]);
    succeeded(&out, "apply")?;
    ensure(
        !text(&out).contains("pg_basebackup -h"),
        "a stale password cost a new copy",
    )?;
    lab.sh(Host::Standby, "pg_ctlcluster 15 main restart");
    retry_streams(lab, &lab.config())
}

#[test]
fn every_fault_ends_clearly_loses_nothing_and_a_retry_streams() {
    let faults: [Fault; 10] = [
        (
            "ssh drops during base-backup",
            ssh_drops_during_the_base_backup,
        ),
        (
            "primary down at base-backup",
            the_primary_is_down_at_the_base_backup,
        ),
        ("hba line removed", the_hba_line_is_removed),
        ("pgrepl killed mid-step", pgrepl_is_killed_mid_step),
        ("standby = primary", the_standby_is_the_primary),
        ("network misses the standby", the_network_misses_the_standby),
        ("wrong port", the_port_is_wrong),
        (
            "standby disk full during base-backup",
            the_standby_disk_fills_up,
        ),
        ("two runs at once", two_runs_at_once),
        ("stored password wrong", the_stored_password_is_wrong),
    ];
    // PGREPL_FAULTS=disk,runs: only the faults whose names hold one of the words.
    let only = std::env::var("PGREPL_FAULTS").unwrap_or_default();
    let chosen: Vec<Fault> = faults
        .into_iter()
        .filter(|(name, _)| only.is_empty() || only.split(',').any(|w| name.contains(w)))
        .collect();
    let mut failures = vec![];
    for &(name, fault) in &chosen {
        let lab = Lab::up(NAME, PREFIX);
        lived_in_hosts(&lab);
        if let Err(e) = fault(&lab) {
            failures.push(format!("{name}: {e}"));
        }
    }
    println!(
        "faults survived: {}/{}",
        chosen.len() - failures.len(),
        chosen.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
