//! The wizard's state. It changes only in [`App::update`]; what must happen outside (engine
//! commands, files, the terminal) comes out as [`Effect`]s for the runtime to carry out, so
//! tests drive the whole wizard without an engine, a network or a terminal.

use std::path::PathBuf;

use ipnet::IpNet;
use ratatui::crossterm::event::{KeyEvent, MouseEvent};

use super::engine_task::{Command, Preview, Reply};
use super::form::{cidr_offers, Form};
use super::pane::Pane;
use super::theme::Theme;
use crate::config::{is_wide, Config, Setup};
use crate::engine::{Event, Journal, Role, StepId, StepState, VerifyReport};
use crate::secret::Secret;
use crate::tr;

#[derive(Debug)]
pub enum Action {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Tick,
    Engine(Event),
    Reply(Reply),
    EngineStarted(Journal),
    EngineFailed(String),
    Saved(Result<PathBuf, String>),
    /// The host keys the user accepted were written to known_hosts (or could not be).
    KeyTrusted(Result<(), String>),
    /// SIGTERM or SIGHUP: stop as a confirmed quit would.
    Terminate,
}

pub enum Effect {
    StartEngine {
        setup: Setup,
        password: Option<Secret>,
    },
    Send(Command),
    SetPaused(bool),
    Abort,
    Save(Config),
    /// Append the keys a host showed, which the user accepted, to known_hosts.
    TrustHostKey(crate::remote::HostKeyReport),
    /// An event for the transcript only (what a preview showed, pause and resume).
    Log(Event),
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Form,
    Steps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    Starting,
    /// A run of several steps: the engine is between two of them.
    Applying,
    Preparing(StepId),
    Running(StepId),
    RollingBack(StepId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Quit,
    Abort,
    Rollback(StepId),
    /// The allowed network is everyone; `true` when A (run all) was pressed.
    Everyone(bool),
    Resume,
    /// Every step is done: connect and verify again.
    Recheck,
    /// Trust the host key shown (kept in `App::untrusted`).
    TrustKey,
}

pub enum Modal {
    Preview {
        preview: Preview,
        scroll: u16,
    },
    Confirm {
        kind: Confirm,
        title: String,
        body: Vec<String>,
    },
    /// Networks to allow, offered after `hosts` found the standby's addresses; the last
    /// option keeps the current one.
    Cidr {
        options: Vec<IpNet>,
        current: IpNet,
        selected: usize,
    },
    Card,
    Error(String),
    /// A host refused our keys: its SSH password (or the key's passphrase), typed masked.
    SshPassword {
        host: Role,
        input: tui_input::Input,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone)]
pub struct StepView {
    pub state: StepState,
    pub notes: Vec<String>,
    pub error: Option<(String, Option<String>)>,
    pub elapsed_ms: u64,
}

impl Default for StepView {
    fn default() -> Self {
        StepView {
            state: StepState::Pending,
            notes: vec![],
            error: None,
            elapsed_ms: 0,
        }
    }
}

pub struct App {
    pub screen: Screen,
    pub form: Form,
    pub steps: Vec<StepView>,
    pub selected: usize,
    /// One per host, in [`Role::index`] order.
    pub panes: Vec<Pane>,
    pub focus: Role,
    pub modal: Option<Modal>,
    /// A modal waiting behind another (a preview behind the network offer).
    pub deferred: Option<Modal>,
    pub help: bool,
    /// The last verification, one report per standby.
    pub verify: Vec<VerifyReport>,
    /// The base backups' progress (done, total kB), per standby.
    pub progress: std::collections::BTreeMap<Role, (u64, u64)>,
    pub busy: Option<Busy>,
    pub run_all: bool,
    /// The engine's sequencer is running (`A`): it asks before each step and the wizard
    /// answers; no other command goes out meanwhile.
    pub applying: bool,
    pub paused: bool,
    pub connected: bool,
    pub standby_addresses: Vec<String>,
    /// A host whose key ssh did not know, with what it shows now: offered for trust once
    /// the failed step has ended.
    pub untrusted: Option<(Role, crate::remote::HostKeyReport)>,
    /// Hosts that refused the keys: each is asked its password once the failed step has
    /// ended.
    pub ssh_password_wanted: Vec<Role>,
    pub(super) cidr_offer_due: bool,
    pub(super) cidr_offered: bool,
    pub journal: Option<Journal>,
    pub setup: Option<Setup>,
    pub(super) engine_password: Option<Secret>,
    /// A was pressed on the form: run all once the engine is up.
    pub(super) run_all_on_start: bool,
    /// This run-all checks again: `verify` runs even though it is done.
    pub recheck: bool,
    pub message: Option<(Level, String)>,
    pub tick: u64,
    pub quit: bool,
    /// Set when the engine crashed: the wizard ends with this error.
    pub crashed: Option<String>,
    pub theme: Theme,
    pub effects: Vec<Effect>,
    /// Where a saved setup goes.
    pub state_dir: PathBuf,
}

impl App {
    pub fn new(form: Form, state_dir: PathBuf, theme: Theme) -> App {
        let message = form
            .source
            .as_ref()
            .map(|p| (Level::Info, tr!("tui.form.loaded", path = p.display())));
        App {
            screen: Screen::Form,
            form,
            steps: vec![StepView::default(); StepId::ALL.len()],
            selected: 0,
            panes: vec![Pane::default(); 2],
            focus: Role::Primary,
            modal: None,
            deferred: None,
            help: false,
            verify: vec![],
            progress: Default::default(),
            busy: None,
            run_all: false,
            applying: false,
            paused: false,
            connected: false,
            standby_addresses: vec![],
            untrusted: None,
            ssh_password_wanted: vec![],
            cidr_offer_due: false,
            cidr_offered: false,
            journal: None,
            setup: None,
            engine_password: None,
            run_all_on_start: false,
            recheck: false,
            message,
            tick: 0,
            quit: false,
            crashed: None,
            theme,
            effects: vec![],
            state_dir,
        }
    }

    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    pub fn selected_step(&self) -> StepId {
        StepId::ALL[self.selected.min(StepId::ALL.len() - 1)]
    }

    /// The state to show: the engine's, except that a pause is the wizard's to know.
    pub fn shown_state(&self, id: StepId) -> StepState {
        let s = self.steps[id.index()].state;
        if self.paused && s == StepState::Running {
            StepState::Paused
        } else {
            s
        }
    }

    pub fn running_step(&self) -> Option<StepId> {
        match self.busy {
            Some(Busy::Running(id)) | Some(Busy::RollingBack(id)) => Some(id),
            _ => None,
        }
    }

    pub fn say(&mut self, level: Level, text: String) {
        self.message = Some((level, text));
    }

    pub fn update(&mut self, action: Action) {
        match action {
            Action::Tick => self.tick = self.tick.wrapping_add(1),
            Action::Key(k) => self.on_key(k),
            Action::Mouse(m) => self.on_mouse(m),
            Action::Engine(e) => self.on_event(e),
            Action::Reply(r) => self.on_reply(r),
            Action::EngineStarted(j) => self.on_started(j),
            Action::EngineFailed(e) => {
                self.busy = None;
                self.screen = Screen::Form;
                self.modal = Some(Modal::Error(e));
            }
            Action::Saved(Ok(p)) => {
                self.say(Level::Info, tr!("tui.form.saved", path = p.display()))
            }
            Action::Saved(Err(e)) => self.say(Level::Error, e),
            Action::KeyTrusted(Ok(())) => {
                self.say(Level::Info, tr!("tui.trust.done"));
                self.prepare(self.selected_step());
            }
            Action::KeyTrusted(Err(e)) => self.say(Level::Error, e),
            Action::Terminate => self.confirmed(Confirm::Quit),
        }
    }

    // ---- the form -------------------------------------------------------------------

    /// The form was confirmed: start (or restart) the engine on its setup.
    pub(super) fn submit_form(&mut self, run_all: bool, everyone_confirmed: bool) {
        let Some(mut done) = self.form.result() else {
            self.say(Level::Error, tr!("tui.form.fix_first"));
            return;
        };
        // The yes to a wide network is the wizard's --allow-wide-cidr.
        done.setup.allow.wide_cidr = everyone_confirmed;
        // Every step's preview is confirmed in the wizard, the restart's count included.
        done.setup.allow.restart = true;
        if is_wide(&done.setup.allowed_cidr) && !everyone_confirmed {
            self.modal = Some(Modal::Confirm {
                kind: Confirm::Everyone(run_all),
                title: tr!("tui.confirm.everyone_title"),
                body: vec![tr!(
                    "tui.confirm.everyone_body",
                    cidr = done.setup.allowed_cidr
                )],
            });
            return;
        }
        self.run_all_on_start = run_all;
        let same_but_cidr = self.setup.as_ref().is_some_and(|old| {
            let mut s = old.clone();
            s.allowed_cidr = done.setup.allowed_cidr;
            s == done.setup
        }) && self.engine_password.as_ref() == Some(&done.password);
        if same_but_cidr {
            if let Some(s) = &mut self.setup {
                s.allowed_cidr = done.setup.allowed_cidr;
            }
            self.effects
                .push(Effect::Send(Command::SetCidr(done.setup.allowed_cidr)));
            self.screen = Screen::Steps;
            self.message = None;
            if std::mem::take(&mut self.run_all_on_start) {
                self.start_run_all();
            }
            return;
        }
        self.setup = Some(done.setup.clone());
        self.engine_password = Some(done.password.clone());
        self.busy = Some(Busy::Starting);
        self.effects.push(Effect::StartEngine {
            setup: done.setup,
            password: Some(done.password),
        });
    }

    pub(super) fn on_started(&mut self, journal: Journal) {
        self.busy = None;
        self.screen = Screen::Steps;
        self.message = None;
        self.connected = false;
        self.cidr_offered = false;
        self.verify.clear();
        self.progress.clear();
        let hosts = self.setup.as_ref().map_or(2, |s| s.roles().len());
        self.panes = vec![Pane::default(); hosts];
        self.focus = Role::Primary;
        self.steps = vec![StepView::default(); StepId::ALL.len()];
        self.apply_journal(&journal);
        let earlier = StepId::ALL
            .iter()
            .any(|id| journal.state(*id) != StepState::Pending);
        self.selected = self.first_incomplete().map(|s| s.index()).unwrap_or(0);
        self.journal = Some(journal);
        if std::mem::take(&mut self.run_all_on_start) {
            self.start_run_all();
        } else if earlier {
            self.offer_resume();
        }
    }

    pub(super) fn offer_resume(&mut self) {
        let Some(j) = &self.journal else { return };
        let body: Vec<String> = StepId::ALL
            .iter()
            .map(|id| format!("{:<13} {}", id.name(), tr!(j.state(*id).key())))
            .collect();
        let (kind, title) = match self.first_incomplete() {
            Some(next) => (
                Confirm::Resume,
                tr!("tui.confirm.resume_title", step = next),
            ),
            None => (Confirm::Recheck, tr!("tui.confirm.resume_all_done")),
        };
        let mut lines = vec![tr!(
            "tui.confirm.resume_body",
            path = j
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )];
        lines.push(String::new());
        lines.extend(body);
        self.modal = Some(Modal::Confirm {
            kind,
            title,
            body: lines,
        });
    }

    pub(super) fn apply_journal(&mut self, j: &Journal) {
        for id in StepId::ALL {
            let rec = j.record(id);
            let v = &mut self.steps[id.index()];
            v.state = rec.state;
            v.elapsed_ms = rec.elapsed_ms;
            if rec.state == StepState::Failed || rec.state == StepState::Interrupted {
                if v.error.is_none() {
                    if let Some(e) = rec.error {
                        v.error = Some((e, None));
                    }
                }
            } else {
                v.error = None;
            }
        }
    }

    pub fn first_incomplete(&self) -> Option<StepId> {
        StepId::ALL
            .into_iter()
            .find(|id| !self.steps[id.index()].state.is_complete())
    }

    // ---- running steps --------------------------------------------------------------

    /// Asks the engine for a step's preview; the run starts when the user says yes.
    pub(super) fn prepare(&mut self, id: StepId) {
        if self.busy.is_some() {
            return;
        }
        self.busy = Some(Busy::Preparing(id));
        self.selected = id.index();
        if id != StepId::Hosts && !self.connected {
            self.say(Level::Info, tr!("tui.status.connecting_first"));
        }
        self.effects.push(Effect::Send(Command::Prepare(id)));
    }

    pub(super) fn run(&mut self, id: StepId) {
        self.busy = Some(Busy::Running(id));
        self.selected = id.index();
        self.message = None;
        self.effects.push(Effect::Send(Command::Run(id)));
    }

    /// `A`: the engine's sequencer runs every step not done, in order, connecting first
    /// when needed; it asks before each one (a preview modal) and the wizard answers.
    pub(super) fn start_run_all(&mut self) {
        self.apply(StepId::Install, StepId::Verify);
    }

    /// Connects and verifies again, for a setup whose steps are all done.
    pub(super) fn start_recheck(&mut self) {
        self.recheck = true;
        self.apply(StepId::Verify, StepId::Verify);
    }

    fn apply(&mut self, from: StepId, to: StepId) {
        if self.busy.is_some() || self.applying {
            return;
        }
        self.run_all = true;
        self.applying = true;
        self.busy = Some(Busy::Applying);
        if !self.connected {
            self.say(Level::Info, tr!("tui.status.connecting_first"));
        }
        self.effects.push(Effect::Send(Command::Apply { from, to }));
    }

    /// The answer to a preview the sequencer asked about.
    pub(super) fn answer(&mut self, step: StepId, run: bool) {
        self.effects.push(Effect::Send(Command::Answer(run)));
        if run {
            self.busy = Some(Busy::Running(step));
            self.selected = step.index();
            self.message = None;
        } else {
            self.busy = Some(Busy::Applying);
        }
    }

    pub(super) fn rollback(&mut self, id: StepId) {
        self.busy = Some(Busy::RollingBack(id));
        self.effects.push(Effect::Send(Command::Rollback(id)));
    }

    /// What a rollback from `id` will undo, newest first.
    pub fn undo_lines(&self, id: StepId) -> Vec<String> {
        let Some(j) = &self.journal else {
            return vec![];
        };
        j.undo_plan(id, None)
            .into_iter()
            .map(|(s, u)| format!("{s}: {}", crate::steps::undo::describe_record(u)))
            .collect()
    }

    /// After `hosts`: offer the standby's own address or network when the allowed one
    /// misses it or admits everyone, as long as the whitelist is still to be written.
    fn cidr_offer(&self) -> Option<Modal> {
        let current = self.setup.as_ref()?.allowed_cidr;
        if self.steps[StepId::Whitelist.index()].state.is_complete() {
            return None;
        }
        let addrs: Vec<IpNet> = self
            .standby_addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        let covers = addrs.iter().any(|a| current.contains(&a.addr()));
        if covers && !is_wide(&current) {
            return None;
        }
        let options: Vec<IpNet> = cidr_offers(&self.standby_addresses)
            .into_iter()
            .filter(|n| *n != current)
            .collect();
        if options.is_empty() {
            return None;
        }
        Some(Modal::Cidr {
            options,
            current,
            selected: 0,
        })
    }

    /// Shows the network offer if it is due; true when it is now on screen.
    pub(super) fn maybe_offer_cidr(&mut self) -> bool {
        if !self.cidr_offer_due || self.cidr_offered {
            return false;
        }
        self.cidr_offer_due = false;
        self.cidr_offered = true;
        match self.cidr_offer() {
            Some(m) => {
                self.modal = Some(m);
                true
            }
            None => false,
        }
    }

    pub(super) fn choose_cidr(&mut self, net: IpNet) {
        self.modal = None;
        let mut changed = false;
        if let Some(s) = &mut self.setup {
            if s.allowed_cidr != net {
                s.allowed_cidr = net;
                changed = true;
                self.effects.push(Effect::Send(Command::SetCidr(net)));
                self.form.set(super::form::Field::Cidr, &net.to_string());
                self.say(Level::Info, tr!("tui.status.cidr_set", cidr = net));
            }
        }
        match self.deferred.take() {
            // A preview made before the change shows the old network: the sequencer makes
            // it again on the new network (SetCidr answers its question); a single step
            // is prepared again.
            Some(Modal::Preview { preview, .. }) if changed => {
                if self.applying {
                    self.busy = Some(Busy::Preparing(preview.step));
                } else {
                    self.prepare(preview.step);
                }
            }
            Some(m) => self.modal = Some(m),
            None => {}
        }
    }
}

impl App {
    /// The pane of host `r` (none for a host this setup does not have).
    pub fn pane(&mut self, r: Role) -> Option<&mut Pane> {
        self.panes.get_mut(r.index())
    }

    /// The verification card to show: the focused standby's, else the first that failed,
    /// else the first.
    pub fn card(&self) -> Option<&VerifyReport> {
        self.verify
            .iter()
            .find(|r| r.host == self.focus)
            .or_else(|| self.verify.iter().find(|r| !r.passed))
            .or(self.verify.first())
    }

    /// Moves the focus to the next pane (`back`: the previous one).
    pub fn cycle_focus(&mut self, back: bool) {
        let n = self.panes.len().max(1);
        let i = self.focus.index();
        let next = if back { (i + n - 1) % n } else { (i + 1) % n };
        self.focus = Role::at(next);
    }
}
