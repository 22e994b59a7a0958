//! What the engine reports, folded into the app state: live events (states, lines,
//! progress, notes) and the replies that end each command.

use super::app::{App, Busy, Confirm, Effect, Level, Modal};
use super::engine_task::Reply;
use super::form::cidr_offers;
use super::pane::Kind;
use crate::engine::{Event, Finish, StepId, StepState};
use crate::remote::Stream;
use crate::tr;

/// Notes kept per step for its detail view.
const STEP_NOTES: usize = 50;

impl App {
    pub(super) fn on_event(&mut self, e: Event) {
        match e {
            Event::State { step, state } => {
                let v = &mut self.steps[step.index()];
                v.state = state;
                if state == StepState::Running {
                    v.error = None;
                    v.notes.clear();
                    self.selected = step.index();
                    if step == StepId::BaseBackup {
                        self.progress.clear();
                    }
                    if step == StepId::Verify {
                        self.verify.clear();
                    }
                }
            }
            Event::Planned { .. } => {}
            Event::CommandStarted { host, command, .. } => {
                if let Some(p) = self.pane(host) {
                    p.command(&command)
                }
            }
            Event::Line {
                host, stream, text, ..
            } => {
                let kind = match stream {
                    Stream::Stdout => Kind::Out,
                    Stream::Stderr => Kind::Err,
                };
                if let Some(p) = self.pane(host) {
                    p.push(kind, &text);
                }
            }
            Event::Progress {
                host,
                done_kb,
                total_kb,
                ..
            } => {
                self.progress.insert(host, (done_kb, total_kb));
            }
            Event::CommandFinished {
                host,
                status,
                elapsed,
                ..
            } => {
                if let Some(p) = self.pane(host) {
                    p.push(
                        Kind::Exit(status == 0),
                        &tr!(
                            "tui.pane.exit",
                            status = status,
                            secs = format!("{:.2}", elapsed.as_secs_f64())
                        ),
                    )
                }
            }
            Event::Note { step, host, text } => {
                match host {
                    Some(r) => {
                        if let Some(p) = self.pane(r) {
                            p.push(Kind::Note, &text)
                        }
                    }
                    None => {
                        for p in &mut self.panes {
                            p.push(Kind::Note, &text);
                        }
                    }
                }
                let notes = &mut self.steps[step.index()].notes;
                if notes.len() == STEP_NOTES {
                    notes.remove(0);
                }
                notes.push(text);
            }
            Event::KeysRefused { host } => {
                if !self.ssh_password_wanted.contains(&host) {
                    self.ssh_password_wanted.push(host);
                }
            }
            Event::Failed { step, error, hint } => {
                self.steps[step.index()].error = Some((error, hint));
                self.selected = step.index();
            }
            Event::Verified(r) => {
                self.verify.retain(|v| v.host != r.host);
                self.verify.push(r);
                self.verify.sort_by_key(|v| v.host);
            }
            Event::UnknownHostKey { host, report } => self.untrusted = Some((host, report)),
            Event::Paused => self.paused = true,
            Event::Resumed => {}
        }
    }

    pub(super) fn on_reply(&mut self, r: Reply) {
        self.answer_reply(r);
        self.offer_trust();
    }

    /// Once the step that met an unknown host key has ended, its fingerprints are shown
    /// and the user chooses: trusted keys go to known_hosts and the step runs again.
    fn offer_trust(&mut self) {
        if self.busy.is_some() || matches!(self.modal, Some(Modal::Confirm { .. })) {
            return;
        }
        let Some((host, report)) = &self.untrusted else {
            self.ask_next_ssh_password();
            return;
        };
        let mut body = vec![
            tr!(
                "tui.trust.body",
                host = format!("{host} ({})", report.scanned)
            ),
            String::new(),
        ];
        body.extend(report.fingerprints.iter().cloned());
        body.push(String::new());
        body.push(tr!("tui.trust.file", path = report.known_hosts.display()));
        self.modal = Some(Modal::Confirm {
            kind: Confirm::TrustKey,
            title: tr!("tui.trust.title"),
            body,
        });
    }

    /// The next host that wants its SSH password, if any; once all are given, connect.
    pub(super) fn ask_next_ssh_password(&mut self) {
        if self.ssh_password_wanted.is_empty() {
            return;
        }
        let host = self.ssh_password_wanted.remove(0);
        self.modal = Some(Modal::SshPassword {
            host,
            input: tui_input::Input::default(),
        });
    }

    fn answer_reply(&mut self, r: Reply) {
        match r {
            Reply::Journal(j) => {
                self.apply_journal(&j);
                self.journal = Some(j);
            }
            Reply::Connected { standby_addresses } => {
                self.connected = true;
                self.form.set_suggestions(cidr_offers(&standby_addresses));
                self.standby_addresses = standby_addresses;
                self.cidr_offer_due = true;
            }
            Reply::Prepared(p) => {
                self.busy = None;
                if let Err(e) = &p.commands {
                    self.say(
                        Level::Error,
                        tr!("tui.status.no_preview", step = p.step, error = e),
                    );
                    // The sequencer waits for an answer: without a preview, it is no.
                    if self.applying {
                        self.answer(p.step, false);
                    }
                    return;
                }
                for (host, command) in p.commands.iter().flatten() {
                    self.effects.push(Effect::Log(Event::Planned {
                        step: p.step,
                        host: *host,
                        command: command.clone(),
                    }));
                }
                let modal = Modal::Preview {
                    preview: p,
                    scroll: 0,
                };
                let offer_showing = matches!(self.modal, Some(Modal::Cidr { .. }));
                if offer_showing || self.maybe_offer_cidr() {
                    self.deferred = Some(modal);
                } else {
                    self.modal = Some(modal);
                }
            }
            Reply::Ran { step, outcome } => {
                self.busy = self.applying.then_some(Busy::Applying);
                // "Abort the running command?" has nothing left to abort.
                if matches!(
                    self.modal,
                    Some(Modal::Confirm {
                        kind: Confirm::Abort,
                        ..
                    })
                ) {
                    self.modal = None;
                }
                if self.paused {
                    self.paused = false;
                    self.effects.push(Effect::SetPaused(false));
                }
                match outcome {
                    Ok(state) => {
                        self.say(
                            Level::Info,
                            tr!(
                                "tui.status.step_ended",
                                step = step,
                                state = tr!(state.key())
                            ),
                        );
                        if step == StepId::Verify && !self.verify.is_empty() {
                            self.recheck = false;
                            self.modal = Some(Modal::Card);
                            return;
                        }
                        // In a run the offer comes with the next preview (see Prepared).
                        if !self.applying {
                            self.maybe_offer_cidr();
                        }
                    }
                    Err(_) => {
                        // The reason came as a Failed event and shows in the step's details.
                        self.selected = step.index();
                        if step == StepId::Verify && !self.verify.is_empty() {
                            self.modal = Some(Modal::Card);
                        }
                        self.say(Level::Error, tr!("tui.status.step_failed", step = step));
                    }
                }
            }
            Reply::RolledBack { to, errors } => {
                self.busy = None;
                self.run_all = false;
                if to <= StepId::Verify {
                    self.verify.clear();
                }
                if to <= StepId::BaseBackup {
                    self.progress.clear();
                }
                if errors.is_empty() {
                    self.say(Level::Info, tr!("report.rolled_back", step = to));
                } else {
                    let text = errors
                        .iter()
                        .map(|(id, e)| tr!("report.failed", step = id, error = e))
                        .collect::<Vec<_>>()
                        .join("; ");
                    self.say(Level::Error, text);
                }
            }
            Reply::Applied(finish) => {
                self.applying = false;
                self.run_all = false;
                self.recheck = false;
                self.busy = None;
                match finish {
                    Finish::Done if self.modal.is_none() => {
                        self.say(Level::Info, tr!("tui.status.all_done"))
                    }
                    Finish::Declined(id) | Finish::Aborted(id) => {
                        self.say(Level::Info, tr!("tui.status.stopped_before", step = id))
                    }
                    // A failure was said by its Ran reply.
                    _ => {}
                }
            }
            Reply::Closed => {}
            Reply::Crashed(e) => {
                self.crashed = Some(e);
                self.quit = true;
                self.effects.push(Effect::Quit);
            }
        }
    }
}
