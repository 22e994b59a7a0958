//! What the engine reports while it works. The TUI and the headless printer are two views
//! of this one stream.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use super::{Role, StepId, StepState};
use crate::remote::Stream;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    State {
        step: StepId,
        state: StepState,
    },
    /// A command the step would run (for `plan` and the wizard's preview).
    Planned {
        step: StepId,
        host: Role,
        command: String,
    },
    CommandStarted {
        step: StepId,
        host: Role,
        command: String,
    },
    Line {
        step: StepId,
        host: Role,
        stream: Stream,
        text: String,
    },
    Progress {
        step: StepId,
        host: Role,
        done_kb: u64,
        total_kb: u64,
    },
    CommandFinished {
        step: StepId,
        host: Role,
        status: i32,
        elapsed: Duration,
    },
    /// A sentence for the user (already translated).
    Note {
        step: StepId,
        host: Option<Role>,
        text: String,
    },
    Failed {
        step: StepId,
        error: String,
        hint: Option<String>,
    },
    Verified(VerifyReport),
    Paused,
    Resumed,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub walsender: bool,
    pub walreceiver: bool,
    pub replication_state: Option<String>,
    pub standby_in_recovery: bool,
    pub canary_ms: Option<u64>,
    pub lag_bytes: Option<i64>,
    pub passed: bool,
}

/// The sending half; a closed receiver is fine (nobody is watching).
#[derive(Clone)]
pub struct Events(Option<UnboundedSender<Event>>);

impl Events {
    pub fn new(tx: UnboundedSender<Event>) -> Self {
        Events(Some(tx))
    }

    pub fn none() -> Self {
        Events(None)
    }

    pub fn send(&self, e: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(e);
        }
    }
}
