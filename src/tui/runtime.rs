//! The wizard's loop: terminal in and out, input on a blocking thread, the engine in its
//! own task, and a frame clock that redraws at most 30 times a second however fast the
//! hosts print.

use std::io::stdout;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{eyre, Result};
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event as TermEvent,
};
use ratatui::crossterm::execute;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use super::app::{Action, App, Effect, Modal};
use super::engine_task::{self, Command, EngineHandle, Reply};
use super::form::Form;
use super::theme::Theme;
use crate::config::Config;
use crate::engine::{setup_id, Event};
use crate::report::Transcript;
use crate::tr;

const FRAME: Duration = Duration::from_millis(33);
/// Engine events handled per turn of the loop before input gets its chance again.
const BATCH: usize = 2000;
/// How long quitting waits for the engine to stop and close its connections: longer than
/// releasing the host locks may take (`host_lock::RELEASE_WAIT`).
const CLOSE_WAIT: Duration = Duration::from_secs(15);

pub async fn run(start: crate::wizard::Start) -> Result<i32> {
    let crate::wizard::Start {
        config,
        state_dir,
        password: preset,
    } = start;
    let (loaded, problem) = match &config {
        Some(p) => match Config::load(p) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e.to_string())),
        },
        None => (None, None),
    };
    let source = config.filter(|_| loaded.is_some());
    let form = Form::new(loaded, source, preset);
    let mut app = App::new(form, state_dir.clone(), Theme::from_env());
    if let Some(p) = problem {
        app.modal = Some(Modal::Error(p));
    }
    let mut term = Term::enter()?;
    let result = event_loop(&mut term.terminal, &mut app, &state_dir).await;
    drop(term);
    result
}

/// The terminal in raw mode on the alternate screen; put back on drop and on panic.
struct Term {
    terminal: DefaultTerminal,
}

impl Term {
    fn enter() -> Result<Term> {
        // Installs a panic hook that restores the terminal before the report is printed.
        let terminal =
            ratatui::try_init().map_err(|e| eyre!(tr!("tui.no_terminal", problem = e)))?;
        let _ = execute!(stdout(), EnableMouseCapture);
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = execute!(stdout(), DisableMouseCapture);
            hook(info);
        }));
        Ok(Term { terminal })
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = execute!(stdout(), DisableMouseCapture);
        let _ = self.terminal.show_cursor();
        ratatui::restore();
    }
}

/// Reads the terminal on its own thread: `event::read` blocks.
fn spawn_input(tx: UnboundedSender<TermEvent>, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(50)) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if tx.send(ev).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                },
                Ok(false) => {}
                Err(_) => break,
            }
        }
    });
}

struct Runtime {
    events_tx: UnboundedSender<Event>,
    replies_tx: UnboundedSender<Reply>,
    engine: Option<EngineHandle>,
    transcript: Option<Transcript>,
    state_dir: PathBuf,
}

async fn event_loop(term: &mut DefaultTerminal, app: &mut App, state_dir: &Path) -> Result<i32> {
    let (input_tx, mut input_rx) = unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    spawn_input(input_tx, stop.clone());
    let (events_tx, mut events_rx) = unbounded_channel();
    let (replies_tx, mut replies_rx) = unbounded_channel();
    let mut rt = Runtime {
        events_tx,
        replies_tx,
        engine: None,
        transcript: None,
        state_dir: state_dir.to_path_buf(),
    };
    let mut clock = tokio::time::interval(FRAME);
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut dirty = true;
    let mut signals = Signals::new();
    let result = loop {
        tokio::select! {
            _ = signals.next() => app.update(Action::Terminate),
            _ = clock.tick() => {
                app.update(Action::Tick);
                if dirty || app.busy.is_some() {
                    if let Err(e) = term.draw(|f| super::ui::draw(f, app)) {
                        break Err(e.into());
                    }
                    dirty = false;
                }
                continue;
            }
            Some(ev) = input_rx.recv() => {
                match ev {
                    TermEvent::Key(k) => app.update(Action::Key(k)),
                    TermEvent::Mouse(m) => app.update(Action::Mouse(m)),
                    _ => {}
                }
            }
            Some(e) = events_rx.recv() => {
                rt.on_event(app, e);
                for _ in 0..BATCH {
                    match events_rx.try_recv() {
                        Ok(e) => rt.on_event(app, e),
                        Err(_) => break,
                    }
                }
            }
            Some(r) = replies_rx.recv() => {
                // Events sent before this reply are already queued: show them first.
                while let Ok(e) = events_rx.try_recv() {
                    rt.on_event(app, e);
                }
                app.update(Action::Reply(r));
            }
        }
        dirty = true;
        rt.carry_out(app).await;
        if app.quit {
            break match app.crashed.take() {
                Some(e) => Err(eyre!(e)),
                None => Ok(0),
            };
        }
    };
    stop.store(true, Ordering::Relaxed);
    if let Some(h) = rt.engine.take() {
        let _ = term.draw(|f| {
            app.say(super::app::Level::Info, tr!("tui.status.closing"));
            super::ui::draw(f, app)
        });
        let _ = h.commands.send(Command::Shutdown);
        let task = h.task;
        let drain = async {
            // Whatever the engine still reports goes to the transcript.
            loop {
                tokio::select! {
                    Some(e) = events_rx.recv() => rt.log(&e),
                    else => break,
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            tokio::select! {
                _ = task => {}
                _ = drain => {}
            }
        })
        .await;
        while let Ok(e) = events_rx.try_recv() {
            rt.log(&e);
        }
    }
    result
}

/// SIGTERM and SIGHUP end the wizard like a confirmed q: the running command is stopped,
/// the journal keeps the state, and the terminal is put back.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                hup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = recv(&mut self.term) => {}
                _ = recv(&mut self.hup) => {}
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    }
}

impl Runtime {
    fn log(&mut self, e: &Event) {
        if let Some(t) = &mut self.transcript {
            t.write(e);
        }
    }

    fn on_event(&mut self, app: &mut App, e: Event) {
        // The wizard logs pause and resume itself, when the user presses p.
        if e != Event::Resumed {
            self.log(&e);
        }
        app.update(Action::Engine(e));
    }

    async fn carry_out(&mut self, app: &mut App) {
        // Effects may lead to actions that bring more effects.
        loop {
            let effects = app.take_effects();
            if effects.is_empty() {
                return;
            }
            for fx in effects {
                self.effect(app, fx).await;
            }
        }
    }

    async fn effect(&mut self, app: &mut App, fx: Effect) {
        match fx {
            Effect::StartEngine {
                mut setup,
                password,
            } => {
                if setup.set_postgres_password && setup.postgres_password.is_none() {
                    setup.postgres_password =
                        crate::config::postgres_password(None).unwrap_or_default();
                }
                if let Some(old) = self.engine.take() {
                    let _ = old.commands.send(Command::Shutdown);
                    let _ = tokio::time::timeout(CLOSE_WAIT, old.task).await;
                }
                match engine_task::spawn(
                    setup,
                    password,
                    &self.state_dir,
                    self.events_tx.clone(),
                    self.replies_tx.clone(),
                ) {
                    Ok(h) => {
                        self.transcript = Some(Transcript::open(&self.state_dir, &h.journal.id));
                        let journal = h.journal.clone();
                        self.engine = Some(h);
                        app.update(Action::EngineStarted(journal));
                    }
                    Err(e) => app.update(Action::EngineFailed(e.to_string())),
                }
            }
            Effect::Send(cmd) => {
                if let Some(h) = &self.engine {
                    let _ = h.commands.send(cmd);
                }
            }
            Effect::SetPaused(p) => {
                if let Some(h) = &self.engine {
                    if p {
                        h.control.pause();
                    } else {
                        h.control.resume();
                    }
                }
            }
            Effect::Abort => {
                if let Some(h) = &self.engine {
                    h.control.abort();
                }
            }
            Effect::Save(config) => {
                let r = save(&self.state_dir, &config);
                app.update(Action::Saved(r));
            }
            Effect::TrustHostKey(report) => {
                let r = crate::remote::trust_host_key(&report).map_err(|e| {
                    tr!(
                        "tui.trust.failed",
                        path = report.known_hosts.display(),
                        problem = e
                    )
                });
                app.update(Action::KeyTrusted(r));
            }
            Effect::Log(e) => self.log(&e),
            Effect::Quit => {}
        }
    }
}

/// Writes the form's setup as a config file in the state directory; never the password
/// (the config has no field for it).
fn save(dir: &Path, config: &Config) -> std::result::Result<PathBuf, String> {
    let standbys: Vec<String> = config.standby.iter().map(|h| h.label()).collect();
    let id = setup_id(&config.primary.label(), &standbys.join("\n"));
    let path = dir.join(format!("setup-{id}.toml"));
    let fail =
        |e: &dyn std::fmt::Display| tr!("tui.form.save_failed", path = path.display(), problem = e);
    let body = toml::to_string(config).map_err(|e| fail(&e))?;
    crate::private::create_dir(dir).map_err(|e| fail(&e))?;
    let text = format!("# {}\n{body}", tr!("tui.form.saved_header"));
    crate::private::write(&path, text.as_bytes()).map_err(|e| fail(&e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_setup_is_private() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("state");
        let config = Config::parse(
            "[primary]\nhost = \"db1\"\n[standby]\nhost = \"db2\"\n[postgres]\nallowed_cidr = \"10.0.0.0/24\"\n",
        )
        .unwrap();
        let path = save(&dir, &config).unwrap();
        assert_eq!(crate::private::mode(&dir), 0o700);
        assert_eq!(crate::private::mode(&path), 0o600);
    }
}
