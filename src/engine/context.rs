//! What a step works with: the hosts, what is known about them, and a way to run commands
//! that reports every line, honours pause and abort, and keeps the journal.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{Control, Event, Events, Journal, Role, StepError, StepId, StepResult, UndoRecord};
use crate::config::Setup;
use crate::platform::{HostFacts, Layout, PgVersion};
use crate::remote::{Finished, Host, Input, Stream};
use crate::secret::Secret;
use crate::tr;

/// Reads a progress figure (done, total) from one output line.
pub type ProgressParser = fn(&str) -> Option<(u64, u64)>;

/// One remote command: a root shell script, what goes to its stdin, and how much of it the
/// user sees. The display never contains a secret because scripts never do.
pub struct Cmd<'a> {
    pub script: String,
    pub input: Input<'a>,
    /// Show stdin text in the displayed command (SQL yes; file contents no).
    pub show_input: bool,
    /// Keep output out of the panes (file contents that may hold secrets, noisy reads).
    pub quiet: bool,
    /// Shown instead of the stdin text (SQL whose literals must stay hidden).
    pub shown_input: Option<String>,
    /// Turns output lines into progress events, for a gauge.
    pub progress: Option<ProgressParser>,
    /// Shown after the command: what it changes, in words the reader can check (a
    /// file's added and removed lines).
    pub shown_changes: Option<String>,
    /// Only looks at the host. A dry run executes these (and only these) for real; every
    /// other command is recorded instead, so an unmarked command can never run in one.
    pub read_only: bool,
}

impl<'a> Cmd<'a> {
    pub fn new(script: impl Into<String>) -> Cmd<'a> {
        Cmd {
            script: script.into(),
            input: Input::None,
            show_input: false,
            quiet: false,
            shown_input: None,
            progress: None,
            read_only: false,
            shown_changes: None,
        }
    }

    /// Shows `changes` below the command.
    pub fn changes(mut self, changes: String) -> Self {
        self.shown_changes = Some(changes);
        self
    }

    /// A command that only looks at the host.
    pub fn read(script: impl Into<String>) -> Cmd<'a> {
        Cmd::new(script).reads()
    }

    /// Marks the command as one that only looks (see [`Cmd::read_only`]).
    pub fn reads(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// A script fed `sql` on stdin, shown to the user.
    pub fn sql(psql: impl Into<String>, sql: &'a str) -> Cmd<'a> {
        Cmd {
            script: psql.into(),
            input: Input::Text(sql),
            show_input: true,
            quiet: false,
            shown_input: None,
            progress: None,
            read_only: false,
            shown_changes: None,
        }
    }

    /// Reports progress read from its output lines with `parse`.
    pub fn progress(mut self, parse: ProgressParser) -> Self {
        self.progress = Some(parse);
        self
    }

    /// Shows `shown` in place of the SQL on stdin.
    pub fn masked(mut self, shown: String) -> Self {
        self.shown_input = Some(shown);
        self
    }

    pub fn stdin(mut self, text: &'a str) -> Self {
        self.input = Input::Text(text);
        self
    }

    pub fn secret(mut self, s: &'a Secret) -> Self {
        self.input = Input::Secret(s);
        self
    }

    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    pub fn display(&self) -> String {
        let shown = self.display_command();
        match &self.shown_changes {
            Some(c) => format!("{shown}\n{}", c.trim_end()),
            None => shown,
        }
    }

    fn display_command(&self) -> String {
        match &self.input {
            Input::None => self.script.clone(),
            Input::Text(_) if self.shown_input.is_some() => {
                format!(
                    "{} <<'SQL'\n{}\nSQL",
                    self.script,
                    self.shown_input.as_deref().unwrap_or_default().trim_end()
                )
            }
            Input::Text(t) if self.show_input => {
                format!("{} <<'SQL'\n{}\nSQL", self.script, t.trim_end())
            }
            Input::Text(t) => format!(
                "{}  {}",
                self.script,
                tr!("cmd.stdin_lines", lines = t.lines().count())
            ),
            Input::Secret(_) => format!("{}  {}", self.script, tr!("cmd.stdin_secret")),
        }
    }
}

/// The commands a dry run would have sent, per host, in order.
pub type Recording = Arc<Mutex<Vec<(Role, String)>>>;

pub struct Cx {
    pub setup: Setup,
    pub password: Option<Secret>,
    pub step: StepId,
    pub events: Events,
    pub control: Arc<Control>,
    pub journal: Arc<Mutex<Journal>>,
    pub hosts: Vec<Host>,
    pub facts: Vec<HostFacts>,
    pub layouts: Vec<Layout>,
    pub version: Option<PgVersion>,
    /// What fixes a failed command, read from its error output (the steps know).
    pub hints: fn(&str) -> Option<String>,
    /// A dry run: commands that change a host are recorded here instead of run.
    pub dry: Option<Recording>,
    /// How `hosts` reaches the hosts.
    pub connector: Arc<dyn crate::remote::Connector>,
    /// Rollback may remove packages pgrepl installed (`rollback --purge-packages`).
    pub purge_packages: bool,
}

impl Cx {
    /// A copy for a dry run of one step: the same hosts and facts, silent, never paused,
    /// recording every command that would change a host instead of running it.
    pub fn dry_copy(&self) -> Cx {
        Cx {
            setup: self.setup.clone(),
            password: self.password.clone(),
            step: self.step,
            events: Events::none(),
            control: Arc::new(Control::default()),
            journal: self.journal.clone(),
            hosts: self.hosts.clone(),
            facts: self.facts.clone(),
            layouts: self.layouts.clone(),
            version: self.version,
            hints: self.hints,
            dry: Some(Arc::default()),
            connector: self.connector.clone(),
            purge_packages: self.purge_packages,
        }
    }

    pub fn is_dry(&self) -> bool {
        self.dry.is_some()
    }

    /// What a dry run recorded, in order.
    pub fn recorded(&self) -> Vec<(Role, String)> {
        self.dry
            .as_ref()
            .and_then(|d| d.lock().ok().map(|v| v.clone()))
            .unwrap_or_default()
    }

    pub fn host(&self, r: Role) -> StepResult<&Host> {
        self.hosts
            .get(r.index())
            .ok_or_else(|| StepError::new(tr!("error.not_connected")))
    }

    pub fn layout(&self, r: Role) -> StepResult<&Layout> {
        self.layouts
            .get(r.index())
            .ok_or_else(|| StepError::new(tr!("error.not_connected")))
    }

    pub fn facts(&self, r: Role) -> StepResult<&HostFacts> {
        self.facts
            .get(r.index())
            .ok_or_else(|| StepError::new(tr!("error.not_connected")))
    }

    pub fn journal_id(&self) -> String {
        self.journal
            .lock()
            .map(|j| j.id.clone())
            .unwrap_or_default()
    }

    /// Says what a change means beyond its command (what undoing it will do): a note
    /// on the pane when it runs, a `# ` line among the commands of a preview.
    pub fn explain(&self, host: Role, text: String) {
        if !self.record(host, format!("# {text}")) {
            self.note(Some(host), text);
        }
    }

    /// In a dry run, adds `line` to what is shown; false when this is no dry run.
    fn record(&self, host: Role, line: String) -> bool {
        let Some(record) = &self.dry else {
            return false;
        };
        if let Ok(mut v) = record.lock() {
            v.push((host, line));
        }
        true
    }

    pub fn note(&self, host: Option<Role>, text: String) {
        self.events.send(Event::Note {
            step: self.step,
            host,
            text,
        });
    }

    /// Runs a command and returns how it ended, whatever its exit status.
    pub async fn run(&self, r: Role, cmd: Cmd<'_>) -> StepResult<Finished> {
        if self.is_dry() {
            if !cmd.read_only {
                self.record(r, cmd.display());
                return Ok(Finished::default());
            }
            // A plan for hosts not reached (or not yet set up) reads as "nothing there".
            if self.hosts.get(r.index()).is_none() {
                return Ok(Finished {
                    status: 1,
                    ..Finished::default()
                });
            }
        }
        let events = &self.events;
        if self
            .control
            .wait_while_paused(|| events.send(Event::Paused))
            .await
        {
            self.events.send(Event::Resumed);
        }
        // The abort stays set until the step ends (run_step clears it at the next start):
        // commands running at once on several standbys must all see it, not the first.
        if self.control.is_aborting() {
            return Err(StepError::aborted());
        }
        let host = self.host(r)?;
        let step = self.step;
        self.events.send(Event::CommandStarted {
            step,
            host: r,
            command: cmd.display(),
            read_only: cmd.read_only,
        });
        let started = Instant::now();
        let events = self.events.clone();
        let quiet = cmd.quiet;
        let parse = cmd.progress;
        let mut sink = |stream: Stream, text: &str| {
            if quiet {
                return;
            }
            if let Some((done_kb, total_kb)) = parse.and_then(|p| p(text)) {
                events.send(Event::Progress {
                    step,
                    host: r,
                    done_kb,
                    total_kb,
                });
            }
            events.send(Event::Line {
                step,
                host: r,
                stream,
                text: text.to_string(),
            });
        };
        // This command's own pid: commands on the two hosts run at once, and an abort kills
        // each on its own host.
        let pid = std::sync::atomic::AtomicU32::new(0);
        let mut on_pid = |p: u32| pid.store(p, std::sync::atomic::Ordering::SeqCst);
        let run = host.run_root(&cmd.script, cmd.input, &mut sink, &mut on_pid);
        tokio::pin!(run);
        let (mut aborted, mut killed) = (false, false);
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            tokio::select! {
                r = &mut run => break r,
                _ = self.control.aborted(), if !aborted => aborted = true,
                // The pid may arrive after the abort: keep trying until it is known.
                _ = tick.tick(), if aborted && !killed => {
                    let known = pid.load(std::sync::atomic::Ordering::SeqCst);
                    if known != 0 {
                        killed = true;
                        let _ = host.kill(known).await;
                    }
                }
            }
        };
        let done = result.map_err(StepError::from)?;
        self.events.send(Event::CommandFinished {
            step,
            host: r,
            status: done.status,
            elapsed: started.elapsed(),
        });
        if aborted || self.control.is_aborting() {
            return Err(StepError::aborted());
        }
        Ok(done)
    }

    /// Runs a command that must succeed.
    pub async fn must(&self, r: Role, cmd: Cmd<'_>) -> StepResult<Finished> {
        let first = cmd.script.lines().next().unwrap_or_default().to_string();
        let done = self.run(r, cmd).await?;
        if done.ok() {
            return Ok(done);
        }
        // In a dry run a failed read means "not there yet" (an earlier step has not run).
        if self.is_dry() {
            return Ok(Finished {
                stdout: String::new(),
                ..done
            });
        }
        let tail: Vec<&str> = done.stderr.lines().rev().take(6).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let tail = tail.join("\n");
        let mut e = StepError::command(r, &first, done.status, &tail);
        e.hint = (self.hints)(&tail);
        Err(e)
    }

    /// Runs a command that changes the host and must succeed; how it ended goes into the
    /// journal right after (its undo was recorded before, with [`Cx::remember`]).
    pub async fn change(&self, r: Role, cmd: Cmd<'_>) -> StepResult<Finished> {
        if self.is_dry() {
            return self.must(r, cmd).await;
        }
        let command: String = cmd
            .script
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(160)
            .collect();
        let result = self.must(r, cmd).await;
        let status = match &result {
            Ok(done) => Some(done.status),
            Err(e) => e.status,
        };
        self.edit_journal(|j| {
            j.entry(self.step).outcomes.push(super::journal::Outcome {
                host: r,
                command,
                status,
            });
            true
        })?;
        result
    }

    /// Changes the journal with `edit` and, when it says it changed something, saves it
    /// (tmp file, fsync, rename) before returning: the write-ahead every record relies on.
    fn edit_journal(&self, edit: impl FnOnce(&mut Journal) -> bool) -> StepResult<()> {
        let mut j = self
            .journal
            .lock()
            .map_err(|_| StepError::new("journal lock poisoned".into()))?;
        if !edit(&mut j) {
            return Ok(());
        }
        j.save()
            .map_err(|e| StepError::new(tr!("error.journal_write", problem = e)))
    }

    /// Records how to undo a change before making it (write-ahead), once.
    pub fn remember(&self, undo: UndoRecord) -> StepResult<()> {
        if self.is_dry() {
            return Ok(());
        }
        self.edit_journal(|j| {
            let rec = j.entry(self.step);
            if !rec.undo.contains(&undo) {
                rec.undo.push(undo);
            }
            true
        })
    }

    /// A fact kept in the journal across runs (see [`Journal::memo`]).
    pub fn memo(&self, key: &str) -> Option<String> {
        self.journal.lock().ok()?.memo.get(key).cloned()
    }

    /// Keeps `value` under `key` in the journal (not in a dry run).
    pub fn set_memo(&self, key: &str, value: String) -> StepResult<()> {
        if self.is_dry() {
            return Ok(());
        }
        self.edit_journal(|j| {
            if j.memo.get(key) == Some(&value) {
                return false;
            }
            j.memo.insert(key.to_string(), value);
            true
        })
    }

    /// The changes this step recorded so far (for a retry to reuse).
    pub fn remembered(&self) -> Vec<UndoRecord> {
        self.journal
            .lock()
            .map(|j| j.record(self.step).undo)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_never_contain_secrets() {
        let s = Secret::new("s3cr3t");
        let c = Cmd::new("cat > /x").secret(&s);
        assert!(!c.display().contains("s3cr3t"));
        let c = Cmd::sql("psql", "SELECT 1");
        assert!(c.display().contains("SELECT 1"));
        let c = Cmd::new("cat > /f").stdin("a\nb\n");
        assert!(!c.display().contains("a\nb"));
    }
}

#[cfg(test)]
mod control_tests {
    use super::*;
    use crate::config::Config;
    use crate::remote::{Local, Privilege};
    use std::time::Duration;

    fn local_cx(dir: &std::path::Path) -> (Cx, tokio::sync::mpsc::UnboundedReceiver<Event>) {
        let setup = Config::parse(
            "[primary]\nhost = \"127.0.0.2\"\n[standby]\nhost = \"127.0.0.3\"\n[postgres]\nallowed_cidr = \"127.0.0.0/8\"\n",
        )
        .unwrap()
        .validate()
        .unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let journal = Journal::open(dir, "a", "b").unwrap();
        let host = Host::new(Arc::new(Local), Privilege::Root);
        let cx = Cx {
            setup,
            password: None,
            step: StepId::BaseBackup,
            events: Events::new(tx),
            control: Arc::new(Control::with_pause_file(dir.join("pause"))),
            journal: Arc::new(Mutex::new(journal)),
            hosts: vec![host.clone(), host],
            facts: vec![],
            layouts: vec![],
            version: None,
            hints: |_| None,
            dry: None,
            connector: Arc::new(crate::remote::SshConnector),
            purge_packages: false,
        };
        (cx, rx)
    }

    fn running(pattern: &str) -> bool {
        std::process::Command::new("pgrep")
            .args(["-f", pattern])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    #[tokio::test]
    async fn abort_kills_the_running_command_and_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let (cx, _rx) = local_cx(dir.path());
        let control = cx.control.clone();
        let marker = format!("sleep 30.{}", std::process::id());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            control.abort();
        });
        let started = Instant::now();
        // Three levels deep, as runuser -> pg_basebackup -> its WAL streamer are.
        let nested = format!("sh -c \"sh -c '{marker}; true'; true\"; echo never");
        let err = cx.run(Role::Primary, Cmd::new(nested)).await.unwrap_err();
        assert!(err.aborted, "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(!running(&marker), "the remote command survived the abort");
        // The abort holds for the rest of the step: a command on another standby that
        // starts after it stops too. The next step starts clean (run_step clears it).
        assert!(
            cx.run(Role::Primary, Cmd::new("true"))
                .await
                .unwrap_err()
                .aborted
        );
        cx.control.take_abort();
        assert!(cx.run(Role::Primary, Cmd::new("true")).await.unwrap().ok());
    }

    #[tokio::test]
    async fn pause_holds_the_next_command_until_resumed_by_key_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cx, mut rx) = local_cx(dir.path());
        let cx = Arc::new(cx);
        for by_file in [false, true] {
            if by_file {
                std::fs::write(dir.path().join("pause"), "").unwrap();
            } else {
                cx.control.pause();
            }
            let c = cx.clone();
            let task =
                tokio::spawn(async move { c.run(Role::Primary, Cmd::new("echo ran")).await });
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(!task.is_finished(), "ran while paused");
            let mut seen = vec![];
            while let Ok(e) = rx.try_recv() {
                seen.push(e);
            }
            assert_eq!(seen, vec![Event::Paused], "nothing but Paused while paused");
            if by_file {
                std::fs::remove_file(dir.path().join("pause")).unwrap();
            } else {
                cx.control.resume();
            }
            let done = task.await.unwrap().unwrap();
            assert_eq!(done.stdout, "ran\n");
            assert_eq!(rx.recv().await, Some(Event::Resumed));
            while rx.try_recv().is_ok() {}
        }
    }
}
