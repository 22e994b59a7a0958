//! One run at a time (issue #14), on a real lab: a run killed with SIGKILL leaves its locks
//! on the hosts, and the next run of this machine takes them over; while that run works,
//! a second `apply` is refused at once, from the same state directory by the journal's
//! lock and from another one by the hosts' locks, each naming the holder; a command that
//! only looks still runs; when the run ends the standby streams and no lock is left.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_streams, text, Host, Lab, PASSWORD};

const LOCK: &str = "/run/pgrepl.lock";

/// `pgrepl <args>` on the lab's config with `state` as state directory.
fn pgrepl(lab: &Lab, state: &Path, args: &[&str]) -> Command {
    let c = lab.config().to_string_lossy().to_string();
    let mut cmd = common::command();
    cmd.args(args)
        .args(["--config", &c])
        .env("PGREPL_STATE_DIR", state)
        .env("PGREPL_REPLICA_PASSWORD", PASSWORD)
        .stdin(Stdio::null());
    cmd
}

/// `apply --yes` in the background, its output going to `log`.
fn spawn_apply(lab: &Lab, state: &Path, log: &Path, env: &[(&str, &str)]) -> Child {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let mut cmd = pgrepl(lab, state, &["apply", "--yes"]);
    cmd.envs(env.iter().copied()).stdout(out).stderr(err);
    cmd.spawn().expect("pgrepl starts")
}

/// The pid the host's lock names, if there is a lock.
fn holder_pid(lab: &Lab, h: Host) -> Option<u32> {
    let out = lab.ssh(h, &format!("cat {LOCK}/holder"), "");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .and_then(|p| p.trim().parse().ok())
}

fn held_by(lab: &Lab, pid: u32) -> bool {
    [Host::Primary, Host::Standby]
        .into_iter()
        .all(|h| holder_pid(lab, h) == Some(pid))
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn lock_left(lab: &Lab, h: Host) -> bool {
    lab.sh(
        h,
        &format!("if [ -e {LOCK} ]; then echo yes; else echo no; fi"),
    ) == "yes"
}

#[test]
fn one_run_at_a_time_and_a_killed_run_blocks_nothing() {
    let started = Instant::now();
    let lab = Lab::up("lock", "10.77.12");
    let logs = tempfile::tempdir().expect("temp dir");
    let config = lab.config();

    // (d) A run SIGKILLed right after it locked both hosts (its third journal write: the
    // hosts step starting, then one lock per host): the locks stay behind.
    let mut killed = spawn_apply(
        &lab,
        lab.state.path(),
        &logs.path().join("killed.log"),
        &[("PGREPL_CRASH_AT_JOURNAL_WRITE", "3")],
    );
    let killed_pid = killed.id();
    let status = killed.wait().expect("wait");
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "{}",
            std::fs::read_to_string(logs.path().join("killed.log")).unwrap_or_default()
        );
    }
    assert!(
        held_by(&lab, killed_pid),
        "the killed run's locks are on both hosts"
    );

    // The next run of this machine takes them over.
    let run_log = logs.path().join("run.log");
    let mut run = spawn_apply(&lab, lab.state.path(), &run_log, &[]);
    let pid = run.id();
    assert!(
        wait_until(Duration::from_secs(60), || held_by(&lab, pid)),
        "the next run never took the killed run's locks over:\n{}",
        std::fs::read_to_string(&run_log).unwrap_or_default()
    );
    // It holds still (before its next command) while the others try.
    std::fs::write(lab.state.path().join("pause"), "").expect("pause file");

    // (a) The same state directory: refused at once by the journal's lock.
    let t = Instant::now();
    let out = lab.apply(&config, &[]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(t.elapsed() < Duration::from_secs(5), "not at once: {said}");
    assert!(
        said.contains(&format!("pid {pid}")),
        "names the holder: {said}"
    );
    assert_eq!(said.trim().lines().count(), 1, "one line: {said}");
    println!("(a) {}", said.trim());

    // (b) Another state directory: refused by the hosts' locks, which stay the run's.
    let other = tempfile::tempdir().expect("temp dir");
    let out = pgrepl(&lab, other.path(), &["apply", "--yes"])
        .output()
        .expect("pgrepl runs");
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!("pid {pid}")),
        "names the holder: {said}"
    );
    assert!(said.contains(&format!("rm -r {LOCK}")), "says how: {said}");
    assert!(held_by(&lab, pid), "the refused run released nothing");
    for l in said
        .lines()
        .filter(|l| l.contains("error") || l.contains("hint"))
    {
        println!("(b) {l}");
    }

    // Looking is not changing: `status` from elsewhere runs while the hosts are held.
    let out = pgrepl(&lab, other.path(), &["status"])
        .output()
        .expect("pgrepl runs");
    assert!(out.status.success(), "status: {}", text(&out));

    // (c) The run goes on to the end: streaming, and no lock left on any host.
    std::fs::remove_file(lab.state.path().join("pause")).expect("resume");
    assert!(
        wait_until(Duration::from_secs(600), || matches!(
            run.try_wait(),
            Ok(Some(_))
        )),
        "the run never ended"
    );
    let log = std::fs::read_to_string(&run_log).unwrap_or_default();
    assert!(run.wait().expect("wait").success(), "{log}");
    assert!(log.contains("took over the lock"), "{log}");
    for l in log.lines().filter(|l| l.contains("took over")) {
        println!("(d) {l}");
    }
    assert_streams(&lab);
    for h in [Host::Primary, Host::Standby] {
        assert!(!lock_left(&lab, h), "a lock is left on the {h:?}");
    }
    println!(
        "locks: the whole story in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
