//! The engine in its own task: it owns the `Engine`, serves one command at a time and
//! answers on a channel. Live output travels separately, as engine events.

use std::path::Path;
use std::sync::Arc;

use ipnet::IpNet;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use crate::config::Setup;
use crate::engine::{
    Answer, Control, Driver, Engine, Event, Events, Finish, Journal, StepId, StepResult, StepState,
};
use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Describe a step and list its commands (connecting first when needed).
    Prepare(StepId),
    Run(StepId),
    /// Run every step from `from` to `to` through the engine's sequencer, which asks before
    /// each one with a `Prepared` reply; the wizard answers with `Answer`.
    Apply {
        from: StepId,
        to: StepId,
    },
    Answer(bool),
    Rollback(StepId),
    /// The user picked another allowed network after seeing the standby's addresses.
    SetCidr(IpNet),
    /// The user typed the SSH password (or key passphrase) of the host that asked for it.
    SetSshPassword(crate::engine::Role, crate::secret::Secret),
    Shutdown,
}

pub use crate::engine::Preview;

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The journal after every command: the true states and what rollback would undo.
    Journal(Journal),
    /// `hosts` succeeded; the standby's global addresses (`10.0.1.5/24`).
    Connected {
        standby_addresses: Vec<String>,
    },
    Prepared(Preview),
    Ran {
        step: StepId,
        outcome: Result<StepState, String>,
    },
    RolledBack {
        to: StepId,
        errors: Vec<(StepId, String)>,
    },
    /// An `Apply` ended.
    Applied(Finish),
    /// The engine closed its connections and stopped.
    Closed,
    /// The engine's task panicked: a bug. The wizard stops with this message.
    Crashed(String),
}

pub struct EngineHandle {
    pub commands: UnboundedSender<Command>,
    pub control: Arc<Control>,
    pub journal: Journal,
    pub task: JoinHandle<()>,
}

/// Opens the journal and starts the engine's task. Errors are the journal's (unreadable,
/// written by a newer pgrepl, or in use by another pgrepl).
pub fn spawn(
    setup: Setup,
    password: Option<Secret>,
    state_dir: &Path,
    events: UnboundedSender<Event>,
    replies: UnboundedSender<Reply>,
) -> color_eyre::Result<EngineHandle> {
    // The wizard may run any step: it holds the hosts once connected.
    let engine = crate::steps::engine(
        setup,
        password,
        Events::new(events),
        state_dir,
        crate::steps::Access::Change,
    )?;
    let control = engine.control();
    let journal = engine.journal();
    let (tx, rx) = unbounded_channel();
    let inner = tokio::spawn(serve(engine, rx, replies.clone()));
    // A panic in the engine must end the wizard, not leave it waiting for replies.
    let task = tokio::spawn(async move {
        if let Err(e) = inner.await {
            if e.is_panic() {
                let _ = replies.send(Reply::Crashed(e.to_string()));
            }
        }
    });
    Ok(EngineHandle {
        commands: tx,
        control,
        journal,
        task,
    })
}

async fn serve(
    mut engine: Engine,
    mut rx: UnboundedReceiver<Command>,
    replies: UnboundedSender<Reply>,
) {
    let send = |r: Reply| {
        let _ = replies.send(r);
    };
    while let Some(cmd) = rx.recv().await {
        match cmd {
            Command::Prepare(step) => {
                let connected = step == StepId::Hosts || connect(&mut engine, &send).await;
                let preview = if connected {
                    engine.prepare(step).await
                } else {
                    let mut p = engine.prepare(StepId::Hosts).await;
                    p.step = step;
                    p.commands = Err(crate::tr!("error.not_connected"));
                    p
                };
                send(Reply::Prepared(preview));
            }
            Command::Run(step) => {
                if step != StepId::Hosts && !connect(&mut engine, &send).await {
                    send(Reply::Ran {
                        step,
                        outcome: Err(crate::tr!("error.not_connected")),
                    });
                } else {
                    let outcome = if step == StepId::Hosts {
                        engine.connect().await
                    } else {
                        engine.run_step(step).await
                    };
                    let outcome = outcome.map_err(|e| e.message);
                    if step == StepId::Hosts && outcome.is_ok() {
                        send(connected(&engine));
                        send(Reply::Journal(engine.journal()));
                    }
                    send(Reply::Ran { step, outcome });
                }
            }
            Command::Rollback(to) => {
                let errors = if connect(&mut engine, &send).await {
                    engine
                        .rollback(to)
                        .await
                        .into_iter()
                        .map(|(id, e)| (id, e.message))
                        .collect()
                } else {
                    vec![(StepId::Hosts, crate::tr!("error.not_connected"))]
                };
                send(Reply::RolledBack { to, errors });
            }
            Command::Apply { from, to } => {
                let mut driver = Wizard {
                    rx: &mut rx,
                    replies: &replies,
                    shutdown: false,
                };
                let finish = engine.apply(from, to, &mut driver).await;
                let shutdown = driver.shutdown;
                send(Reply::Applied(finish));
                if shutdown {
                    break;
                }
            }
            // An answer with no question waiting (the run ended meanwhile).
            Command::Answer(_) => {}
            Command::SetCidr(net) => engine.set_allowed_cidr(net),
            Command::SetSshPassword(host, p) => {
                let mut setup = engine.setup().clone();
                setup.ssh_passwords.insert(host, p);
                engine.set_setup(setup);
            }
            Command::Shutdown => break,
        }
        send(Reply::Journal(engine.journal()));
    }
    engine.close().await;
    send(Reply::Closed);
}

/// The wizard as the sequencer's driver: previews go out as `Prepared`, answers come
/// back as commands; every step's end is reported as after a single `Run`.
struct Wizard<'a> {
    rx: &'a mut UnboundedReceiver<Command>,
    replies: &'a UnboundedSender<Reply>,
    shutdown: bool,
}

#[async_trait::async_trait]
impl Driver for Wizard<'_> {
    fn asks(&self) -> bool {
        true
    }

    fn asks_before_connecting(&self) -> bool {
        true
    }

    async fn confirm(&mut self, engine: &Engine, preview: crate::engine::Preview) -> Answer {
        let _ = self.replies.send(Reply::Prepared(preview));
        loop {
            match self.rx.recv().await {
                Some(Command::Answer(true)) => return Answer::Run,
                Some(Command::Answer(false)) => return Answer::Stop,
                Some(Command::SetCidr(net)) => {
                    let mut setup = engine.setup().clone();
                    setup.allowed_cidr = net;
                    return Answer::Change(Box::new(setup));
                }
                Some(Command::SetSshPassword(host, p)) => {
                    let mut setup = engine.setup().clone();
                    setup.ssh_passwords.insert(host, p);
                    return Answer::Change(Box::new(setup));
                }
                Some(Command::Shutdown) | None => {
                    self.shutdown = true;
                    return Answer::Stop;
                }
                // Nothing else is sent while a run is asking.
                Some(_) => {}
            }
        }
    }

    async fn ended(&mut self, engine: &Engine, step: StepId, outcome: &StepResult<StepState>) {
        if step == StepId::Hosts && outcome.is_ok() {
            let _ = self.replies.send(connected(engine));
        }
        let _ = self.replies.send(Reply::Journal(engine.journal()));
        let _ = self.replies.send(Reply::Ran {
            step,
            outcome: outcome.clone().map_err(|e| e.message.clone()),
        });
    }
}

fn connected(engine: &Engine) -> Reply {
    Reply::Connected {
        standby_addresses: engine.standby_addresses(),
    }
}

/// Runs `hosts` (read-only) unless this engine is connected already.
async fn connect(engine: &mut Engine, send: &impl Fn(Reply)) -> bool {
    if engine.connected() {
        return true;
    }
    let ok = engine.connect().await.is_ok();
    if ok {
        send(connected(engine));
    }
    send(Reply::Journal(engine.journal()));
    ok
}
