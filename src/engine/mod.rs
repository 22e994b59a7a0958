//! The step engine: runs the steps in order, keeps the journal, reports events. It knows
//! nothing of terminals; the TUI and the headless commands both drive it.

mod context;
mod control;
mod error;
mod event;
mod journal;
mod lock;
mod sequence;
mod step;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;

pub use context::{Cmd, Cx};
pub use control::Control;
pub use error::{StepError, StepResult};
pub use event::{Event, Events, VerifyReport};
pub use journal::{record_host, setup_id, Journal, Outcome, StepRecord, UndoRecord};
pub use lock::{command_line, StateLock};
pub use sequence::{Answer, Driver, Finish, Preview};
pub use step::{Role, StepId, StepState, MAX_STANDBYS};

use crate::config::Setup;
use crate::secret::Secret;
use crate::tr;

/// The user-facing what and why of a step.
pub struct Description {
    pub what: String,
    pub why: String,
}

/// One of the six steps. `check` looks without touching; `apply` makes the change and is
/// safe to re-run after a failure; what it changes it records in the journal first
/// ([`Cx::remember`]), and to roll the step back the engine hands those records to its
/// `revert`, newest first. What a record means is the step's own business.
#[async_trait]
pub trait Step: Send + Sync {
    fn id(&self) -> StepId;

    fn describe(&self) -> Description {
        let key = self.id().name().replace('-', "_");
        Description {
            what: tr!(&format!("step.{key}.what")),
            why: tr!(&format!("step.{key}.why")),
        }
    }

    /// The commands shown before the step runs, for a step whose apply cannot be dry-run
    /// (`hosts`, which connects). `None`: the engine dry-runs `apply` instead, so what is
    /// shown is what runs.
    fn preview(&self, _cx: &Cx) -> Option<StepResult<Vec<(Role, String)>>> {
        None
    }

    /// True when the hosts already look the way this step would leave them.
    async fn check(&self, cx: &Cx) -> StepResult<bool>;

    async fn apply(&self, cx: &mut Cx) -> StepResult<()>;

    /// Undoes one change `apply` recorded. Safe to run twice, and when the change it
    /// undoes never happened (the record is written before the change).
    async fn revert(&self, cx: &Cx, record: &UndoRecord) -> StepResult<()>;

    /// Lets go of what `apply` holds on the hosts for the engine's life (a lock), when the
    /// engine closes. It cannot fail the command: what it cannot release, the step's next
    /// run must be able to take over or explain.
    async fn release(&self, _cx: &Cx) {}
}

/// `to` and every later step, newest first; `hosts` changes nothing and has no undo.
pub fn rollback_order(to: StepId) -> impl Iterator<Item = StepId> {
    StepId::ALL
        .into_iter()
        .rev()
        .filter(move |s| *s >= to && *s != StepId::Hosts)
}

pub struct Engine {
    cx: Cx,
    steps: Vec<Box<dyn Step>>,
    /// No other engine works on this journal while this one lives.
    _lock: StateLock,
}

impl Engine {
    /// Opens (or starts) the journal for this setup in `state_dir`. Steps the journal shows
    /// as running were cut short by a previous pgrepl and are marked interrupted. Fails at
    /// once, before reading or writing anything, while another engine has this journal.
    pub fn new(
        setup: Setup,
        password: Option<Secret>,
        events: Events,
        state_dir: &Path,
        steps: Vec<Box<dyn Step>>,
        hints: fn(&str) -> Option<String>,
        connector: Arc<dyn crate::remote::Connector>,
    ) -> color_eyre::Result<Engine> {
        let id = setup_id(&setup.primary.label(), &setup.standbys_label());
        let lock = StateLock::take(state_dir, &id)?;
        let mut journal =
            Journal::open(state_dir, &setup.primary.label(), &setup.standbys_label())?;
        let cut = journal.mark_interrupted();
        if !cut.is_empty() {
            journal.save()?;
        }
        let cx = Cx {
            setup,
            password,
            step: StepId::Hosts,
            events,
            control: Arc::new(Control::with_pause_file(state_dir.join("pause"))),
            journal: Arc::new(Mutex::new(journal)),
            hosts: vec![],
            facts: vec![],
            layouts: vec![],
            version: None,
            hints,
            dry: None,
            connector,
            purge_packages: false,
        };
        for id in cut {
            cx.events.send(Event::State {
                step: id,
                state: StepState::Interrupted,
            });
        }
        Ok(Engine {
            cx,
            steps,
            _lock: lock,
        })
    }

    /// How many events the engine has sent (a printer waits until it has shown them all).
    pub fn events_sent(&self) -> u64 {
        self.cx.events.sent()
    }

    /// The context as step `id` sees it, to read from (e.g. a verification report).
    pub fn cx_for(&mut self, id: StepId) -> &Cx {
        self.cx.step = id;
        &self.cx
    }

    /// The user chose another allowed network after seeing the standby's addresses.
    pub fn set_allowed_cidr(&mut self, net: ipnet::IpNet) {
        self.cx.setup.allowed_cidr = net;
    }

    /// Whether rollback removes the packages pgrepl installed.
    pub fn set_purge_packages(&mut self, purge: bool) {
        self.cx.purge_packages = purge;
    }

    pub fn setup(&self) -> &Setup {
        &self.cx.setup
    }

    /// A changed setup from the driver (same hosts; another network, say).
    pub fn set_setup(&mut self, setup: Setup) {
        self.cx.setup = setup;
    }

    /// The standbys' global addresses as `hosts` found them (`10.0.1.5/24`).
    pub fn standby_addresses(&self) -> Vec<String> {
        self.cx
            .setup
            .standby_roles()
            .filter_map(|s| self.cx.facts.get(s.index()))
            .flat_map(|f| f.addresses.clone())
            .collect()
    }

    /// Whether step `id` is done on the hosts, asked without a word on the panes.
    pub async fn inspect_quietly(&mut self, id: StepId) -> bool {
        self.cx.events.mute(true);
        let done = self.inspect(id).await.unwrap_or(false);
        self.cx.events.mute(false);
        done
    }

    pub fn control(&self) -> Arc<Control> {
        self.cx.control.clone()
    }

    pub fn journal(&self) -> Journal {
        self.cx
            .journal
            .lock()
            .map(|j| j.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn state(&self, id: StepId) -> StepState {
        self.journal().state(id)
    }

    pub fn connected(&self) -> bool {
        !self.cx.layouts.is_empty()
    }

    fn step(&self, id: StepId) -> StepResult<&dyn Step> {
        self.steps
            .iter()
            .find(|s| s.id() == id)
            .map(|s| s.as_ref())
            .ok_or_else(|| StepError::new(tr!("error.unknown_step", step = id, steps = "")))
    }

    pub fn describe(&self, id: StepId) -> StepResult<Description> {
        Ok(self.step(id)?.describe())
    }

    /// The commands that running `id` now would send to change the hosts, in order: its
    /// `apply` run against a copy of the context that records those commands instead of
    /// running them (commands that only look run for real). Empty when the hosts show the
    /// step done, since running it would then change nothing.
    pub async fn preview(&mut self, id: StepId) -> StepResult<Vec<(Role, String)>> {
        self.cx.step = id;
        if let Some(shown) = self.step(id)?.preview(&self.cx) {
            return shown;
        }
        if id != StepId::Verify && self.connected() && self.inspect_quietly(id).await {
            return Ok(vec![]);
        }
        let mut dry = self.cx.dry_copy();
        self.step(id)?.apply(&mut dry).await?;
        Ok(dry.recorded())
    }

    /// Looks at the hosts without changing anything: is `id` done? For showing the true
    /// state after a restart. `hosts` must have run.
    pub async fn inspect(&mut self, id: StepId) -> StepResult<bool> {
        self.cx.step = id;
        let step = self.step(id)?;
        match id {
            StepId::Hosts => Ok(self.connected()),
            StepId::Verify => Ok(self.journal().state(id).is_complete()),
            _ => step.check(&self.cx).await,
        }
    }

    /// After `hosts`, looks at every step on the hosts (read-only) and corrects what the
    /// journal says to what is true there: hosts rebuilt or changed by hand since the last
    /// run must not show steps as done that are not, nor the other way round. Undo records
    /// stay, so rollback still knows what pgrepl changed.
    pub async fn refresh(&mut self) {
        self.cx.events.mute(true);
        self.refresh_states().await;
        self.cx.events.mute(false);
    }

    async fn refresh_states(&mut self) {
        let mut all_done = true;
        for id in [
            StepId::Install,
            StepId::ReplicaRole,
            StepId::Whitelist,
            StepId::BaseBackup,
        ] {
            let state = self.state(id);
            // A check that could not answer (no password, a host briefly unreachable) says
            // nothing about the step, unless an earlier step is not done: then it cannot
            // be done either (no cluster, no role).
            let done = match self.inspect(id).await {
                Ok(done) => done,
                Err(_) if !all_done => false,
                Err(_) => {
                    all_done &= state.is_complete();
                    continue;
                }
            };
            all_done &= done;
            let truth = match (done, state.is_complete()) {
                (true, false) => StepState::Skipped,
                (false, true) => StepState::Pending,
                _ => state,
            };
            if truth != state {
                self.set_state(id, truth, None, None);
            }
        }
        if !all_done && self.state(StepId::Verify).is_complete() {
            self.set_state(StepId::Verify, StepState::Pending, None, None);
        }
    }

    fn set_state(
        &self,
        id: StepId,
        state: StepState,
        error: Option<String>,
        elapsed_ms: Option<u64>,
    ) {
        if let Ok(mut j) = self.cx.journal.lock() {
            let rec = j.entry(id);
            rec.state = state;
            rec.error = error;
            if let Some(ms) = elapsed_ms {
                rec.elapsed_ms = ms;
            }
            let _ = j.save();
        }
        self.cx.events.send(Event::State { step: id, state });
    }

    /// Runs one step: skips it when `check` finds it done, otherwise applies it and checks
    /// again. `hosts` always runs: it is read-only and everything else needs what it finds.
    pub async fn run_step(&mut self, id: StepId) -> StepResult<StepState> {
        let idx = self
            .steps
            .iter()
            .position(|s| s.id() == id)
            .ok_or_else(|| StepError::new(tr!("error.unknown_step", step = id, steps = "")))?;
        self.cx.step = id;
        // An abort that arrived after the last command finished belongs to nothing now.
        self.cx.control.take_abort();
        let started = Instant::now();
        if let Ok(mut j) = self.cx.journal.lock() {
            j.entry(id).outcomes.clear();
        }
        self.set_state(id, StepState::Running, None, None);
        let step = &self.steps[idx];
        let cx = &mut self.cx;
        let result: StepResult<StepState> = async {
            if id != StepId::Hosts && id != StepId::Verify && step.check(cx).await? {
                return Ok(StepState::Skipped);
            }
            step.apply(cx).await?;
            Ok(StepState::Done)
        }
        .await;
        let ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(state) => {
                if state == StepState::Skipped {
                    self.cx.note(None, tr!("note.already_done"));
                }
                self.set_state(id, state, None, Some(ms));
                Ok(state)
            }
            Err(e) => {
                // Forget the hosts so that the next step (or a retry) connects again; after a
                // failed `hosts` too, whose refusals must not be skipped by a view that sees
                // hosts and layouts left from it.
                if e.lost_connection {
                    self.cx.hosts.clear();
                }
                if e.lost_connection || id == StepId::Hosts {
                    self.cx.layouts.clear();
                    self.cx.facts.clear();
                }
                self.set_state(id, StepState::Failed, Some(e.message.clone()), Some(ms));
                self.cx.events.send(Event::Failed {
                    step: id,
                    error: e.message.clone(),
                    hint: e.hint.clone(),
                });
                Err(e)
            }
        }
    }

    /// Runs `hosts` and, once connected, reads every step's true state back from the
    /// hosts ([`Engine::refresh`]).
    pub async fn connect(&mut self) -> StepResult<StepState> {
        let r = self.run_step(StepId::Hosts).await;
        if r.is_ok() {
            self.refresh().await;
        }
        r
    }

    /// Rolls back `to` and every later step, newest first, going on past failures and
    /// returning every error. Steps with nothing recorded are no-ops.
    pub async fn rollback(&mut self, to: StepId) -> Vec<(StepId, StepError)> {
        self.rollback_on(to, None).await
    }

    /// As [`Engine::rollback`], limited to what was changed on `host` when given: one
    /// standby goes back to what it was while the others keep streaming. The steps' states
    /// are then read again from the hosts, since a step may now be done on some hosts only.
    pub async fn rollback_on(
        &mut self,
        to: StepId,
        host: Option<Role>,
    ) -> Vec<(StepId, StepError)> {
        let mut errors = vec![];
        self.cx.control.take_abort();
        let mine = |u: &UndoRecord| host.map_or(true, |h| record_host(u) == h);
        for id in rollback_order(to) {
            let Some(idx) = self.steps.iter().position(|s| s.id() == id) else {
                continue;
            };
            let rec = self.journal().record(id);
            let others = rec.undo.iter().filter(|u| !mine(u)).count();
            if rec.undo.iter().all(|u| !mine(u)) {
                if host.is_some() {
                    continue;
                }
                if !matches!(rec.state, StepState::Pending | StepState::RolledBack) {
                    self.set_state(id, StepState::RolledBack, None, None);
                }
                continue;
            }
            self.cx.step = id;
            self.set_state(id, StepState::Running, None, None);
            let mut failed = None;
            for u in rec.undo.iter().rev().filter(|u| mine(u)) {
                // After a lost connection every further undo would fail the same way.
                if failed
                    .as_ref()
                    .is_some_and(|e: &StepError| e.lost_connection)
                {
                    break;
                }
                if let Err(e) = self.steps[idx].revert(&self.cx, u).await {
                    self.cx.events.send(Event::Failed {
                        step: id,
                        error: e.message.clone(),
                        hint: e.hint.clone(),
                    });
                    failed.get_or_insert(e);
                }
            }
            match failed {
                None => {
                    if let Ok(mut j) = self.cx.journal.lock() {
                        j.entry(id).undo.retain(|u| !mine(u));
                    }
                    let state = if others == 0 {
                        StepState::RolledBack
                    } else {
                        rec.state
                    };
                    self.set_state(id, state, None, None);
                }
                Some(e) => {
                    self.set_state(id, StepState::Failed, Some(e.message.clone()), None);
                    errors.push((id, e));
                }
            }
        }
        errors
    }

    /// Lets the steps release what they hold on the hosts, then closes the connections.
    pub async fn close(&mut self) {
        // Nothing runs after this: a pause (the pause file, say) or an abort still pending
        // must not keep a step from letting go of the hosts.
        self.cx.control = Arc::new(Control::default());
        for step in &self.steps {
            self.cx.step = step.id();
            step.release(&self.cx).await;
        }
        for h in &self.cx.hosts {
            h.close().await;
        }
    }
}
