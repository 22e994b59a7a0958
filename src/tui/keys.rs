//! Keys: the wizard's contract (Enter, A, p, r, u, x, Tab, ↑/↓, PgUp/PgDn, ?, q, y/N).
//! A modal takes the keys while it is open; the help overlay closes on any key.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

use super::app::{App, Busy, Confirm, Effect, Level, Modal, Screen};
use super::form::{Field, FormOutcome};
use crate::engine::{Event, StepId, StepState};
use crate::tr;

/// Lines PgUp/PgDn move an output pane.
const PAGE: usize = 10;
const WHEEL: usize = 3;

fn is_yes(k: &KeyEvent) -> bool {
    matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y'))
}

impl App {
    pub(super) fn on_key(&mut self, k: KeyEvent) {
        if k.kind == KeyEventKind::Release {
            return;
        }
        if self.help {
            self.help = false;
            return;
        }
        if self.modal.is_some() {
            self.modal_key(k);
            return;
        }
        match self.screen {
            Screen::Form => self.form_key(k),
            Screen::Steps => self.steps_key(k),
        }
    }

    pub(super) fn on_mouse(&mut self, m: ratatui::crossterm::event::MouseEvent) {
        if self.screen != Screen::Steps || self.modal.is_some() {
            return;
        }
        let pane = &mut self.panes[self.focus.index()];
        match m.kind {
            MouseEventKind::ScrollUp => pane.scroll_up(WHEEL),
            MouseEventKind::ScrollDown => pane.scroll_down(WHEEL),
            _ => {}
        }
    }

    fn form_key(&mut self, k: KeyEvent) {
        if self.busy == Some(Busy::Starting) {
            return;
        }
        self.message = None;
        match self.form.handle_key(k) {
            FormOutcome::None => {}
            FormOutcome::Submit => self.submit_form(false, false),
            FormOutcome::SubmitRunAll => self.submit_form(true, false),
            FormOutcome::Save => {
                if self.form.is_valid() {
                    self.effects.push(Effect::Save(self.form.to_config()));
                } else {
                    self.say(Level::Error, tr!("tui.form.fix_first"));
                }
            }
            // Back to the steps when they exist; the edits apply only through Continue.
            FormOutcome::Back if self.setup.is_some() && self.busy.is_none() => {
                self.screen = Screen::Steps;
                self.say(Level::Info, tr!("tui.form.not_applied"));
            }
            FormOutcome::Back | FormOutcome::Quit => self.ask_quit(),
            FormOutcome::Help => self.help = true,
        }
    }

    fn ask_quit(&mut self) {
        if self.running_step().is_some() {
            self.modal = Some(Modal::Confirm {
                kind: Confirm::Quit,
                title: tr!("tui.confirm.quit_title"),
                body: vec![tr!("tui.confirm.quit_body")],
            });
        } else {
            self.quit = true;
            self.effects.push(Effect::Quit);
        }
    }

    fn steps_key(&mut self, k: KeyEvent) {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        self.message = None;
        let sel = self.selected_step();
        let idle = self.busy.is_none() && !self.applying;
        match k.code {
            KeyCode::Char('c') if ctrl => self.ask_quit(),
            KeyCode::Char('q') => self.ask_quit(),
            KeyCode::Char('?') | KeyCode::F(1) => self.help = true,
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(StepId::ALL.len() - 1)
            }
            KeyCode::Tab => self.cycle_focus(false),
            KeyCode::BackTab => self.cycle_focus(true),
            KeyCode::PageUp => {
                if let Some(p) = self.pane(self.focus) {
                    p.scroll_up(PAGE)
                }
            }
            KeyCode::PageDown => {
                if let Some(p) = self.pane(self.focus) {
                    p.scroll_down(PAGE)
                }
            }
            KeyCode::End => {
                if let Some(p) = self.pane(self.focus) {
                    p.follow()
                }
            }
            KeyCode::Enter if idle => self.prepare(sel),
            KeyCode::Char('A') if idle => self.start_run_all(),
            KeyCode::Char('r') if idle => {
                if matches!(
                    self.steps[sel.index()].state,
                    StepState::Failed | StepState::Interrupted
                ) {
                    self.prepare(sel);
                } else {
                    self.say(Level::Warn, tr!("tui.status.retry_what"));
                }
            }
            KeyCode::Char('u') if idle => self.ask_rollback(sel),
            KeyCode::Char('e') if idle => {
                self.screen = Screen::Form;
                self.form.focus = Field::Continue;
            }
            KeyCode::Char('v') if !self.verify.is_empty() => self.modal = Some(Modal::Card),
            KeyCode::Char('p') => match self.running_step() {
                Some(_) => {
                    self.paused = !self.paused;
                    self.effects.push(Effect::SetPaused(self.paused));
                    self.effects.push(Effect::Log(if self.paused {
                        Event::Paused
                    } else {
                        Event::Resumed
                    }));
                    let text = if self.paused {
                        tr!("tui.status.pausing")
                    } else {
                        tr!("report.resumed")
                    };
                    self.say(Level::Info, text);
                }
                None => self.say(Level::Warn, tr!("tui.status.nothing_running")),
            },
            KeyCode::Char('x') => match self.busy {
                Some(Busy::Running(id)) => {
                    self.modal = Some(Modal::Confirm {
                        kind: Confirm::Abort,
                        title: tr!("tui.confirm.abort_title", step = id),
                        body: vec![tr!("tui.confirm.abort_body")],
                    })
                }
                _ => self.say(Level::Warn, tr!("tui.status.nothing_running")),
            },
            KeyCode::Enter | KeyCode::Char('A') | KeyCode::Char('r') | KeyCode::Char('u') => {
                self.say(Level::Warn, tr!("tui.status.busy"))
            }
            _ => {}
        }
    }

    fn ask_rollback(&mut self, id: StepId) {
        if id == StepId::Hosts {
            self.say(Level::Warn, tr!("tui.status.hosts_no_rollback"));
            return;
        }
        let state = self.steps[id.index()].state;
        if !matches!(
            state,
            StepState::Done | StepState::Skipped | StepState::Failed | StepState::Interrupted
        ) {
            self.say(Level::Warn, tr!("tui.status.rollback_what"));
            return;
        }
        let mut body = self.undo_lines(id);
        if body.is_empty() {
            body.push(tr!("tui.confirm.rollback_nothing"));
        }
        self.modal = Some(Modal::Confirm {
            kind: Confirm::Rollback(id),
            title: tr!("ask.rollback", step = id),
            body,
        });
    }

    fn modal_key(&mut self, k: KeyEvent) {
        let Some(modal) = self.modal.take() else {
            return;
        };
        match modal {
            Modal::Preview { preview, scroll } => match k.code {
                KeyCode::Char('y') | KeyCode::Char('Y') if self.applying => {
                    self.answer(preview.step, true)
                }
                KeyCode::Char('y') | KeyCode::Char('Y') => self.run(preview.step),
                KeyCode::Char('n')
                | KeyCode::Char('N')
                | KeyCode::Esc
                | KeyCode::Char('q')
                | KeyCode::Backspace => {
                    if self.applying {
                        self.answer(preview.step, false);
                    }
                }
                KeyCode::Char('?') | KeyCode::F(1) => {
                    self.help = true;
                    self.modal = Some(Modal::Preview { preview, scroll });
                }
                code => {
                    let scroll = match code {
                        KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
                        KeyCode::Down | KeyCode::Char('j') => scroll.saturating_add(1),
                        KeyCode::PageUp => scroll.saturating_sub(PAGE as u16),
                        KeyCode::PageDown => scroll.saturating_add(PAGE as u16),
                        KeyCode::Home => 0,
                        _ => scroll,
                    };
                    self.modal = Some(Modal::Preview { preview, scroll });
                }
            },
            Modal::Confirm { kind, title, body } => {
                if is_yes(&k) {
                    self.confirmed(kind);
                } else if matches!(
                    k.code,
                    KeyCode::Char('n')
                        | KeyCode::Char('N')
                        | KeyCode::Esc
                        | KeyCode::Enter
                        | KeyCode::Char('q')
                ) {
                    self.declined(kind);
                } else {
                    self.modal = Some(Modal::Confirm { kind, title, body });
                }
            }
            Modal::Cidr {
                options,
                current,
                selected,
            } => {
                let n = options.len() + 1;
                match k.code {
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.modal = Some(Modal::Cidr {
                            options,
                            current,
                            selected: (selected + n - 1) % n,
                        })
                    }
                    KeyCode::Down | KeyCode::Char('j') | KeyCode::Tab => {
                        self.modal = Some(Modal::Cidr {
                            options,
                            current,
                            selected: (selected + 1) % n,
                        })
                    }
                    KeyCode::Enter => {
                        let net = options.get(selected).copied().unwrap_or(current);
                        self.choose_cidr(net);
                    }
                    KeyCode::Esc => self.choose_cidr(current),
                    _ => {
                        self.modal = Some(Modal::Cidr {
                            options,
                            current,
                            selected,
                        })
                    }
                }
            }
            Modal::Card => match k.code {
                KeyCode::Char('q') => self.ask_quit(),
                KeyCode::Char('?') | KeyCode::F(1) => {
                    self.help = true;
                    self.modal = Some(Modal::Card);
                }
                KeyCode::Enter | KeyCode::Esc | KeyCode::Char('v') => {}
                _ => self.modal = Some(Modal::Card),
            },
            Modal::SshPassword { host, mut input } => match k.code {
                KeyCode::Enter if !input.value().is_empty() => {
                    let password = crate::secret::Secret::new(input.value());
                    self.effects
                        .push(Effect::Send(super::engine_task::Command::SetSshPassword(
                            host, password,
                        )));
                    self.ask_next_ssh_password();
                    if self.modal.is_none() {
                        self.say(Level::Info, tr!("tui.ssh_password.sent"));
                        self.prepare(self.selected_step());
                    }
                }
                KeyCode::Esc => {
                    self.ssh_password_wanted.clear();
                    self.say(Level::Warn, tr!("tui.ssh_password.cancelled"))
                }
                _ => {
                    if let Some(req) = tui_input::backend::crossterm::to_input_request(
                        &ratatui::crossterm::event::Event::Key(k),
                    ) {
                        input.handle(req);
                    }
                    self.modal = Some(Modal::SshPassword { host, input });
                }
            },
            Modal::Error(e) => match k.code {
                KeyCode::Enter | KeyCode::Esc | KeyCode::Char('q') => {}
                _ => self.modal = Some(Modal::Error(e)),
            },
        }
    }

    pub(super) fn confirmed(&mut self, kind: Confirm) {
        match kind {
            Confirm::Quit => {
                if self.running_step().is_some() {
                    // Kill the remote command so the host is not left working unseen.
                    self.effects.push(Effect::Abort);
                }
                self.quit = true;
                self.effects.push(Effect::Quit);
            }
            Confirm::Abort => {
                if matches!(self.busy, Some(Busy::Running(_))) {
                    self.effects.push(Effect::Abort);
                    self.say(Level::Warn, tr!("tui.status.aborting"));
                }
            }
            Confirm::Rollback(id) => self.rollback(id),
            Confirm::Everyone(run_all) => self.submit_form(run_all, true),
            Confirm::Resume => self.start_run_all(),
            Confirm::Recheck => self.start_recheck(),
            Confirm::TrustKey => {
                if let Some((_, report)) = self.untrusted.take() {
                    self.effects.push(Effect::TrustHostKey(report));
                }
            }
        }
    }

    fn declined(&mut self, kind: Confirm) {
        match kind {
            Confirm::Everyone(_) => self.form.focus = Field::Cidr,
            Confirm::Resume | Confirm::Recheck => {
                self.say(Level::Info, tr!("tui.status.resume_later"))
            }
            Confirm::TrustKey => {
                self.untrusted = None;
                self.say(Level::Warn, tr!("tui.trust.declined"));
            }
            Confirm::Quit | Confirm::Abort | Confirm::Rollback(_) => {}
        }
    }
}
