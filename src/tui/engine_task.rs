//! The engine in its own task: it owns the `Engine`, serves one command at a time and
//! answers on a channel. Live output travels separately, as engine events.

use std::path::Path;
use std::sync::Arc;

use ipnet::IpNet;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use crate::config::Setup;
use crate::engine::{Control, Engine, Event, Events, Journal, Role, StepId, StepState};
use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Describe a step and list its commands (connecting first when needed).
    Prepare(StepId),
    Run(StepId),
    Rollback(StepId),
    /// The user picked another allowed network after seeing the standby's addresses.
    SetCidr(IpNet),
    Shutdown,
}

/// What the wizard shows before a step runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub step: StepId,
    pub what: String,
    pub why: String,
    pub commands: Result<Vec<(Role, String)>, String>,
}

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
/// written by a newer pgrepl).
pub fn spawn(
    setup: Setup,
    password: Option<Secret>,
    state_dir: &Path,
    events: UnboundedSender<Event>,
    replies: UnboundedSender<Reply>,
) -> color_eyre::Result<EngineHandle> {
    let engine = crate::steps::engine(setup, password, Events::new(events), state_dir)?;
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
                let (what, why) = match engine.describe(step) {
                    Ok(d) => (d.what, d.why),
                    Err(e) => (String::new(), e.message),
                };
                let commands = if connected {
                    engine.preview(step).await.map_err(|e| e.message)
                } else {
                    Err(crate::tr!("error.not_connected"))
                };
                send(Reply::Prepared(Preview {
                    step,
                    what,
                    why,
                    commands,
                }));
            }
            Command::Run(step) => {
                if step != StepId::Hosts && !connect(&mut engine, &send).await {
                    send(Reply::Ran {
                        step,
                        outcome: Err(crate::tr!("error.not_connected")),
                    });
                } else {
                    let outcome = engine.run_step(step).await.map_err(|e| e.message);
                    if step == StepId::Hosts && outcome.is_ok() {
                        engine.refresh().await;
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
            Command::SetCidr(net) => engine.set_allowed_cidr(net),
            Command::Shutdown => break,
        }
        send(Reply::Journal(engine.journal()));
    }
    engine.close().await;
    send(Reply::Closed);
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
    let ok = engine.run_step(StepId::Hosts).await.is_ok();
    if ok {
        engine.refresh().await;
        send(connected(engine));
    }
    send(Reply::Journal(engine.journal()));
    ok
}
