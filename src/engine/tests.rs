//! The engine without root or a lab: the real `hosts` step over scripted hosts (a fake
//! connector), and small steps that touch files on them, so run, skip, failure, retry,
//! rollback order, refresh and the sequencer are checked on their own.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::*;
use crate::remote::{
    Connector, Finished, LineSink, Local, Remote, RemoteError, SshOptions, Stream,
};
use crate::steps::host_lock::{Holder, LOCK_PATH};
use crate::steps::Hosts;

/// A host that understands the hosts step's two questions and `FAKE <op> <name>`
/// commands on a set of names standing for files. The host lock's scripts run for real,
/// with `sh`, on a directory of its own standing for /run.
struct Scripted {
    probe: Mutex<String>,
    files: Mutex<BTreeSet<String>>,
    log: Mutex<Vec<String>>,
    /// Every command fails as a lost connection would.
    down: Mutex<bool>,
    run: tempfile::TempDir,
}

impl Scripted {
    fn new(host: &str, addr: &str) -> Arc<Scripted> {
        Arc::new(Scripted {
            probe: Mutex::new(format!(
                "os_id=debian\nos_version=12\nhostname={host}\nmachine_id={host}\nsystemd=no\n\
                 pkg=apt-get\npg_bin=/usr/lib/postgresql/15/bin/postgres\naddr={addr}\n"
            )),
            files: Mutex::default(),
            log: Mutex::default(),
            down: Mutex::new(false),
            run: tempfile::tempdir().unwrap(),
        })
    }

    /// This host's /run/pgrepl.lock.
    fn lock(&self) -> std::path::PathBuf {
        self.run.path().join("pgrepl.lock")
    }

    fn holder(&self) -> Option<Holder> {
        let text = std::fs::read_to_string(self.lock().join("holder")).ok()?;
        Holder::parse(&text)
    }

    fn has(&self, name: &str) -> bool {
        self.files.lock().unwrap().contains(name)
    }

    fn ops(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

#[async_trait]
impl Remote for Scripted {
    async fn exec(
        &self,
        line: &str,
        stdin: Option<&[u8]>,
        sink: &mut dyn LineSink,
    ) -> Result<Finished, RemoteError> {
        if *self.down.lock().unwrap() {
            return Err(RemoteError::Connection("connection closed".into()));
        }
        let ok = |stdout: String| Finished {
            status: 0,
            stdout,
            stderr: String::new(),
        };
        // The lock scripts run for real, on this host's stand-in for /run.
        if line.contains(LOCK_PATH) {
            let here = self.lock().display().to_string();
            return Local
                .exec(&line.replace(LOCK_PATH, &here), stdin, sink)
                .await;
        }
        if line.contains("id -u") {
            return Ok(ok("0\n".into()));
        }
        if line.contains("os_id=") {
            return Ok(ok(self.probe.lock().unwrap().clone()));
        }
        let Some(at) = line.find("FAKE ") else {
            return Ok(ok(String::new()));
        };
        let words: Vec<&str> = line[at + 5..]
            .split(|c: char| c.is_whitespace() || c == '\'')
            .take(2)
            .collect();
        let (op, name) = (words[0], words.get(1).copied().unwrap_or_default());
        let mut files = self.files.lock().unwrap();
        let status = match op {
            "test" => i32::from(!files.contains(name)),
            "touch" if files.contains("broken") => 1,
            "touch" => {
                files.insert(name.into());
                0
            }
            "rm" => {
                files.remove(name);
                0
            }
            _ => 2,
        };
        if op != "test" {
            self.log.lock().unwrap().push(format!("{op} {name}"));
        }
        if status == 1 && op == "touch" {
            sink.line(Stream::Stderr, "broken");
        }
        Ok(Finished {
            status,
            stdout: String::new(),
            stderr: if status == 1 {
                "broken\n".into()
            } else {
                String::new()
            },
        })
    }
}

/// Hands out the primary's and the standbys' scripted hosts by address.
struct Fake {
    primary: Arc<Scripted>,
    standby: Arc<Scripted>,
    /// Standbys after the first, at 10.0.1.12 and on.
    more: Vec<Arc<Scripted>>,
}

#[async_trait]
impl Connector for Fake {
    async fn connect(&self, opts: &SshOptions) -> Result<Arc<dyn Remote>, RemoteError> {
        Ok(match opts.host.as_str() {
            "10.0.1.10" => self.primary.clone(),
            "10.0.1.11" => self.standby.clone(),
            other => {
                let n: usize = other.trim_start_matches("10.0.1.").parse().unwrap();
                self.more[n - 12].clone()
            }
        })
    }
}

/// A step that makes one file on every standby, each recorded with its host (as
/// base-backup's records are).
struct TouchEach(StepId);

#[async_trait]
impl Step for TouchEach {
    fn id(&self) -> StepId {
        self.0
    }

    async fn check(&self, cx: &Cx) -> StepResult<bool> {
        for s in cx.setup.standby_roles() {
            if !cx.run(s, Cmd::read("FAKE test each")).await?.ok() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn apply(&self, cx: &mut Cx) -> StepResult<()> {
        for s in cx.setup.standby_roles() {
            cx.remember(serde_json::json!({ "host": s, "file": "each" }))?;
            cx.change(s, Cmd::new("FAKE touch each")).await?;
        }
        Ok(())
    }

    async fn revert(&self, cx: &Cx, record: &UndoRecord) -> StepResult<()> {
        let host: Role = serde_json::from_value(record["host"].clone()).unwrap();
        cx.change(host, Cmd::new("FAKE rm each")).await?;
        Ok(())
    }
}

/// A step that makes one file on the primary; done when the file is there.
struct Touch(StepId);

impl Touch {
    fn file(&self) -> String {
        self.0.name().replace('-', "_")
    }
}

#[async_trait]
impl Step for Touch {
    fn id(&self) -> StepId {
        self.0
    }

    async fn check(&self, cx: &Cx) -> StepResult<bool> {
        let done = cx
            .run(
                Role::Primary,
                Cmd::read(format!("FAKE test {}", self.file())),
            )
            .await?;
        Ok(done.ok())
    }

    async fn apply(&self, cx: &mut Cx) -> StepResult<()> {
        cx.remember(serde_json::json!({ "file": self.file() }))?;
        cx.change(
            Role::Primary,
            Cmd::new(format!("FAKE touch {}", self.file())),
        )
        .await?;
        Ok(())
    }

    async fn revert(&self, cx: &Cx, record: &UndoRecord) -> StepResult<()> {
        let file = record["file"].as_str().unwrap_or_default().to_string();
        cx.change(Role::Primary, Cmd::new(format!("FAKE rm {file}")))
            .await?;
        Ok(())
    }
}

struct Lab {
    engine: Engine,
    fake: Arc<Fake>,
    dir: tempfile::TempDir,
}

fn two_hosts() -> Arc<Fake> {
    Arc::new(Fake {
        primary: Scripted::new("db1", "10.0.1.10/24"),
        standby: Scripted::new("db2", "10.0.1.11/24"),
        more: vec![],
    })
}

/// An engine on `fake`'s primary and standby whose later steps touch files, journal in
/// `dir`, connecting with `hosts`.
fn engine_on(fake: &Arc<Fake>, dir: &std::path::Path, hosts: Hosts) -> color_eyre::Result<Engine> {
    let setup = crate::config::Config::parse(
        "[primary]\nhost = \"10.0.1.10\"\n[standby]\nhost = \"10.0.1.11\"\n\
         [postgres]\nallowed_cidr = \"10.0.1.0/24\"\n",
    )
    .unwrap()
    .validate()
    .unwrap();
    let mut steps: Vec<Box<dyn Step>> = vec![Box::new(hosts)];
    for id in StepId::ALL.into_iter().skip(1) {
        steps.push(Box::new(Touch(id)));
    }
    Engine::new(
        setup,
        None,
        Events::none(),
        dir,
        steps,
        |_| None,
        fake.clone(),
    )
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let fake = two_hosts();
    let engine = engine_on(&fake, dir.path(), Hosts::changing()).unwrap();
    Lab { engine, fake, dir }
}

/// A primary and three standbys; base-backup touches a file on each standby.
fn lab_of_four() -> Lab {
    let setup = crate::config::Config::parse(
        "[primary]\nhost = \"10.0.1.10\"\n[[standby]]\nhost = \"10.0.1.11\"\n\
         [[standby]]\nhost = \"10.0.1.12\"\n[[standby]]\nhost = \"10.0.1.13\"\n\
         [postgres]\nallowed_cidr = \"10.0.1.0/24\"\n",
    )
    .unwrap()
    .validate()
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake {
        primary: Scripted::new("db1", "10.0.1.10/24"),
        standby: Scripted::new("db2", "10.0.1.11/24"),
        more: vec![
            Scripted::new("db3", "10.0.1.12/24"),
            Scripted::new("db4", "10.0.1.13/24"),
        ],
    });
    let steps: Vec<Box<dyn Step>> = vec![
        Box::new(Hosts::changing()),
        Box::new(TouchEach(StepId::BaseBackup)),
    ];
    let engine = Engine::new(
        setup,
        None,
        Events::none(),
        dir.path(),
        steps,
        |_| None,
        fake.clone(),
    )
    .unwrap();
    Lab { engine, fake, dir }
}

#[tokio::test]
async fn every_standby_is_reached_and_one_is_rolled_back_alone() {
    let mut l = lab_of_four();
    l.engine.connect().await.unwrap();
    assert_eq!(
        l.engine.run_step(StepId::BaseBackup).await.unwrap(),
        StepState::Done
    );
    let (s1, s2, s3) = (&l.fake.standby, &l.fake.more[0], &l.fake.more[1]);
    assert!(s1.has("each") && s2.has("each") && s3.has("each"));
    assert!(l.fake.primary.ops().is_empty());

    let plan: Vec<Role> = l
        .engine
        .journal()
        .undo_plan(StepId::BaseBackup, Some(Role::Standby(1)))
        .into_iter()
        .map(|(_, r)| record_host(r))
        .collect();
    assert_eq!(plan, vec![Role::Standby(1)]);
    assert!(l
        .engine
        .rollback_on(StepId::BaseBackup, Some(Role::Standby(1)))
        .await
        .is_empty());
    assert!(s1.has("each") && !s2.has("each") && s3.has("each"));
    // The others' records stay for a later rollback; the step is no longer rolled back
    // as a whole, nor done everywhere.
    assert_eq!(l.engine.journal().record(StepId::BaseBackup).undo.len(), 2);
    assert_ne!(l.engine.state(StepId::BaseBackup), StepState::RolledBack);
    assert!(!l.engine.inspect(StepId::BaseBackup).await.unwrap());

    assert!(l.engine.rollback(StepId::BaseBackup).await.is_empty());
    assert!(!s1.has("each") && !s3.has("each"));
    assert_eq!(l.engine.state(StepId::BaseBackup), StepState::RolledBack);
    assert_eq!(s2.ops(), vec!["touch each", "rm each"], "reverted once");
}

#[test]
fn a_record_without_a_host_changes_the_primary() {
    assert_eq!(
        record_host(&serde_json::json!({ "kind": "drop-role" })),
        Role::Primary
    );
    assert_eq!(
        record_host(&serde_json::json!({ "host": "standby3" })),
        Role::Standby(2)
    );
}

fn states(e: &Engine) -> Vec<StepState> {
    StepId::ALL.map(|id| e.state(id)).to_vec()
}

#[tokio::test]
async fn a_step_runs_once_then_is_found_done() {
    let mut l = lab();
    assert!(
        l.engine.run_step(StepId::Install).await.is_err(),
        "not connected"
    );
    assert_eq!(
        l.engine.run_step(StepId::Hosts).await.unwrap(),
        StepState::Done
    );
    assert_eq!(
        l.engine.run_step(StepId::Install).await.unwrap(),
        StepState::Done
    );
    assert!(l.fake.primary.has("install"));
    assert_eq!(
        l.engine.run_step(StepId::Install).await.unwrap(),
        StepState::Skipped
    );
    assert_eq!(l.fake.primary.ops(), vec!["touch install"]);
    assert_eq!(l.engine.journal().record(StepId::Install).undo.len(), 1);
}

#[tokio::test]
async fn a_failed_step_is_retried_after_the_fix_without_a_second_undo() {
    let mut l = lab();
    l.engine.run_step(StepId::Hosts).await.unwrap();
    l.fake.primary.files.lock().unwrap().insert("broken".into());
    let e = l.engine.run_step(StepId::Whitelist).await.unwrap_err();
    assert!(e.message.contains("broken"), "{e}");
    assert_eq!(l.engine.state(StepId::Whitelist), StepState::Failed);
    assert_eq!(
        l.engine
            .journal()
            .record(StepId::Whitelist)
            .error
            .as_deref(),
        Some(e.message.as_str())
    );
    l.fake.primary.files.lock().unwrap().remove("broken");
    assert_eq!(
        l.engine.run_step(StepId::Whitelist).await.unwrap(),
        StepState::Done
    );
    assert_eq!(l.engine.journal().record(StepId::Whitelist).undo.len(), 1);
}

#[tokio::test]
async fn rollback_reverts_newest_first_and_only_once() {
    let mut l = lab();
    l.engine.run_step(StepId::Hosts).await.unwrap();
    for id in [StepId::Install, StepId::ReplicaRole, StepId::Whitelist] {
        l.engine.run_step(id).await.unwrap();
    }
    let journal = l.engine.journal();
    let plan: Vec<StepId> = journal
        .undo_plan(StepId::ReplicaRole, None)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(plan, vec![StepId::Whitelist, StepId::ReplicaRole]);
    assert!(l.engine.rollback(StepId::ReplicaRole).await.is_empty());
    let ops = l.fake.primary.ops();
    assert_eq!(
        &ops[3..],
        ["rm whitelist", "rm replica_role"],
        "newest first: {ops:?}"
    );
    assert!(l.fake.primary.has("install"));
    assert_eq!(l.engine.state(StepId::Whitelist), StepState::RolledBack);
    assert!(l
        .engine
        .journal()
        .undo_plan(StepId::ReplicaRole, None)
        .is_empty());
    assert!(l.engine.rollback(StepId::ReplicaRole).await.is_empty());
    assert_eq!(
        l.fake.primary.ops().len(),
        5,
        "a second rollback does nothing"
    );
}

#[tokio::test]
async fn a_lost_connection_fails_the_step_and_the_next_run_connects_again() {
    let mut l = lab();
    l.engine.run_step(StepId::Hosts).await.unwrap();
    *l.fake.primary.down.lock().unwrap() = true;
    let e = l.engine.run_step(StepId::Install).await.unwrap_err();
    assert!(e.lost_connection);
    assert!(!l.engine.connected());
    *l.fake.primary.down.lock().unwrap() = false;
    let mut yes = Answers(vec![]);
    assert_eq!(
        l.engine
            .apply(StepId::Install, StepId::Install, &mut yes)
            .await,
        Finish::Done
    );
    assert!(l.fake.primary.has("install"));
}

#[tokio::test]
async fn refresh_believes_the_hosts_not_the_journal() {
    let mut l = lab();
    l.engine.run_step(StepId::Hosts).await.unwrap();
    l.engine.run_step(StepId::Install).await.unwrap();
    // Behind pgrepl's back: install's file is gone, replica-role's appeared.
    l.fake.primary.files.lock().unwrap().remove("install");
    l.fake
        .primary
        .files
        .lock()
        .unwrap()
        .insert("replica_role".into());
    l.engine.refresh().await;
    assert_eq!(l.engine.state(StepId::Install), StepState::Pending);
    assert_eq!(l.engine.state(StepId::ReplicaRole), StepState::Skipped);
    assert_eq!(
        l.engine.journal().record(StepId::Install).undo.len(),
        1,
        "what pgrepl changed stays known to rollback"
    );
}

/// A driver that answers from a list (then yes) and remembers what it was asked.
struct Answers(Vec<Answer>);

#[async_trait]
impl Driver for Answers {
    fn asks(&self) -> bool {
        true
    }

    async fn confirm(&mut self, _engine: &Engine, _preview: Preview) -> Answer {
        if self.0.is_empty() {
            Answer::Run
        } else {
            self.0.remove(0)
        }
    }
}

#[tokio::test]
async fn the_sequencer_asks_before_each_step_not_done_and_stops_where_told() {
    let mut l = lab();
    let mut asked = Answers(vec![Answer::Run, Answer::Stop]);
    let finish = l
        .engine
        .apply(StepId::Install, StepId::Verify, &mut asked)
        .await;
    assert_eq!(finish, Finish::Declined(StepId::ReplicaRole));
    assert_eq!(l.fake.primary.ops(), vec!["touch install"]);

    // Found done: not asked. A changed setup is taken, and the step asked again.
    let mut other = l.engine.setup().clone();
    other.allowed_cidr = "10.0.1.11/32".parse().unwrap();
    let mut asked = Answers(vec![Answer::Change(Box::new(other))]);
    let finish = l
        .engine
        .apply(StepId::Install, StepId::Verify, &mut asked)
        .await;
    assert_eq!(finish, Finish::Done);
    assert_eq!(l.engine.setup().allowed_cidr.to_string(), "10.0.1.11/32");
    let mut want = vec![StepState::Done; StepId::ALL.len()];
    want[StepId::Install.index()] = StepState::Skipped;
    assert_eq!(states(&l.engine), want, "every step ran once");
    assert_eq!(l.fake.primary.ops().len(), 5);

    // An abort between steps stops before the next one.
    l.engine.rollback(StepId::Install).await;
    l.engine.control().abort();
    let finish = l
        .engine
        .apply(StepId::Install, StepId::Verify, &mut Answers(vec![]))
        .await;
    assert_eq!(finish, Finish::Aborted(StepId::Install));
}

#[tokio::test]
async fn a_preview_is_a_dry_run_that_changes_nothing() {
    let mut l = lab();
    l.engine.run_step(StepId::Hosts).await.unwrap();
    let shown = l.engine.preview(StepId::Install).await.unwrap();
    assert_eq!(
        shown,
        vec![(Role::Primary, "FAKE touch install".to_string())]
    );
    assert!(l.fake.primary.ops().is_empty(), "nothing ran");
    assert!(l.engine.journal().record(StepId::Install).undo.is_empty());
    l.engine.run_step(StepId::Install).await.unwrap();
    assert!(
        l.engine.preview(StepId::Install).await.unwrap().is_empty(),
        "a step found done would run nothing"
    );
}

/// Another run's holder: another machine, so never taken over from here.
fn elsewhere() -> Holder {
    Holder {
        machine: "0123456789abcdef".into(),
        who: "root@elsewhere".into(),
        pid: 4242,
        started: "2024-05-01 10:00:00 UTC".into(),
        command: "pgrepl apply --yes".into(),
        token: "e15e".into(),
    }
}

#[tokio::test]
async fn a_second_engine_on_the_same_journal_is_refused_naming_the_first() {
    let l = lab();
    let e = engine_on(&l.fake, l.dir.path(), Hosts::changing())
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains(&std::process::id().to_string()), "{e}");
    drop(l.engine);
    engine_on(&l.fake, l.dir.path(), Hosts::changing()).expect("free again");
}

#[tokio::test]
async fn hosts_held_by_another_run_are_refused_and_only_their_holder_releases_them() {
    let mut l = lab();
    l.engine.connect().await.unwrap();
    let me = l.fake.primary.holder().expect("the primary is held");
    assert_eq!(me.pid, std::process::id());
    assert_eq!(l.fake.standby.holder(), Some(me.clone()));

    let other_dir = tempfile::tempdir().unwrap();
    let mut other = engine_on(&l.fake, other_dir.path(), Hosts::held_as(elsewhere())).unwrap();
    let e = other.connect().await.unwrap_err();
    assert!(e.message.contains(&format!("pid {}", me.pid)), "{e}");
    let hint = e.hint.unwrap_or_default();
    assert!(hint.contains("rm -r /run/pgrepl.lock"), "{hint}");
    assert!(hint.contains("10.0.1.10"), "names the host: {hint}");
    other.close().await;
    assert_eq!(
        l.fake.primary.holder(),
        Some(me.clone()),
        "not its to release"
    );

    l.engine.close().await;
    assert!(!l.fake.primary.lock().exists() && !l.fake.standby.lock().exists());
    other.connect().await.expect("free now");
    assert_eq!(l.fake.standby.holder(), Some(elsewhere()));
}

#[tokio::test]
async fn a_lock_left_by_a_killed_run_of_this_machine_is_taken_over_not_one_from_elsewhere() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = Holder {
        pid: child.id(),
        token: "dead".into(),
        ..Holder::this_run()
    };
    child.wait().unwrap();
    let mut l = lab();
    std::fs::create_dir(l.fake.standby.lock()).unwrap();
    std::fs::write(l.fake.standby.lock().join("holder"), dead.text()).unwrap();
    l.engine.connect().await.expect("taken over");
    let now = l.fake.standby.holder().unwrap();
    assert_eq!(now.pid, std::process::id());
    assert_ne!(now.token, "dead");
    l.engine.close().await;
    assert!(!l.fake.standby.lock().exists());

    let mut l = lab();
    let gone = Holder {
        pid: dead.pid,
        ..elsewhere()
    };
    std::fs::create_dir(l.fake.standby.lock()).unwrap();
    std::fs::write(l.fake.standby.lock().join("holder"), gone.text()).unwrap();
    let e = l.engine.connect().await.unwrap_err();
    assert!(e.message.contains("root@elsewhere"), "{e}");
    l.engine.close().await;
    assert!(
        !l.fake.primary.lock().exists(),
        "the primary it took is let go"
    );
    assert_eq!(l.fake.standby.holder(), Some(gone));
}

#[tokio::test]
async fn commands_that_only_look_take_no_lock_and_are_not_stopped_by_one() {
    let mut l = lab();
    l.engine.connect().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut look = engine_on(&l.fake, dir.path(), Hosts::looking()).unwrap();
    look.connect().await.expect("a look is never refused");
    let shown = look.preview(StepId::Hosts).await.unwrap();
    assert!(
        shown.iter().all(|(_, c)| !c.contains(LOCK_PATH)),
        "{shown:?}"
    );
    look.close().await;
    assert!(l.fake.primary.lock().exists(), "a look releases nothing");
    let shown = l.engine.preview(StepId::Hosts).await.unwrap();
    assert!(
        shown
            .iter()
            .any(|(r, c)| *r == Role::STANDBY && c.starts_with("umask 077; lock=/run/pgrepl.lock")),
        "the preview shows the lock: {shown:?}"
    );
}

#[tokio::test]
async fn closing_releases_the_hosts_even_while_paused_or_aborted() {
    let mut l = lab();
    l.engine.connect().await.unwrap();
    std::fs::write(l.dir.path().join("pause"), "").unwrap();
    l.engine.control().abort();
    tokio::time::timeout(std::time::Duration::from_secs(20), l.engine.close())
        .await
        .expect("close does not wait for a resume");
    assert!(!l.fake.primary.lock().exists() && !l.fake.standby.lock().exists());
}

#[tokio::test]
async fn the_major_a_setup_was_made_with_is_kept_for_later_runs() {
    let mut l = lab();
    // A plan before anything exists pins nothing...
    l.engine.connect().await.unwrap();
    assert_eq!(l.engine.journal().memo.get("pg_version"), None);
    // ...a cluster on the port is what the setup was made with.
    l.fake
        .primary
        .probe
        .lock()
        .unwrap()
        .push_str("cluster=15 main 5432 online postgres /var/lib/postgresql/15/main\n");
    l.engine.connect().await.unwrap();
    let memo = l.engine.journal().memo.get("pg_version").cloned();
    assert_eq!(memo.as_deref(), Some("15"));
    // Later 15 is gone and 16 installed, no cluster on the port: a rollback must still
    // work with 15's paths.
    for host in [&l.fake.primary, &l.fake.standby] {
        let mut probe = host.probe.lock().unwrap();
        *probe = probe
            .lines()
            .filter(|l| !l.starts_with("cluster="))
            .map(|l| format!("{}\n", l.replace("/postgresql/15/", "/postgresql/16/")))
            .collect();
    }
    l.engine.connect().await.unwrap();
    assert_eq!(
        l.engine
            .cx_for(StepId::Hosts)
            .version
            .map(|v| v.to_string()),
        Some("15".to_string())
    );
}

#[tokio::test]
async fn a_refusal_of_hosts_leaves_the_engine_unconnected() {
    let mut l = lab();
    // The standby's cluster lives outside the layout: hosts refuses it...
    {
        let mut probe = l.fake.standby.probe.lock().unwrap();
        probe.push_str("cluster=15 main 5432 down postgres /srv/elsewhere\n");
    }
    assert!(l.engine.connect().await.is_err());
    // ...and no view may go on as if it had not: no facts, no layouts left behind.
    assert!(!l.engine.connected());
    assert!(l.engine.standby_addresses().is_empty());
}
