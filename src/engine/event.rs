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
        /// Only looks (a dry run executes it too); the others change the host.
        read_only: bool,
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
    /// A host refused pgrepl's keys: a view may ask for its SSH password.
    KeysRefused {
        host: Role,
    },
    /// A host's key is not known: what it shows now, for the view to offer trusting it.
    UnknownHostKey {
        host: Role,
        report: crate::remote::HostKeyReport,
    },
    Paused,
    Resumed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// The standby checked.
    #[serde(default = "first_standby")]
    pub host: Role,
    pub walsender: bool,
    pub walreceiver: bool,
    pub replication_state: Option<String>,
    pub standby_in_recovery: bool,
    pub canary_ms: Option<u64>,
    pub lag_bytes: Option<i64>,
    /// The password the standby has stored logs in on a fresh replication connection
    /// (`None`: pgrepl stored none there).
    #[serde(default)]
    pub stored_login: Option<bool>,
    pub passed: bool,
    /// Why the checks could not run, when they could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Default for VerifyReport {
    fn default() -> Self {
        VerifyReport {
            host: Role::STANDBY,
            walsender: false,
            walreceiver: false,
            replication_state: None,
            standby_in_recovery: false,
            canary_ms: None,
            lag_bytes: None,
            stored_login: None,
            passed: false,
            error: None,
        }
    }
}

fn first_standby() -> Role {
    Role::STANDBY
}

/// The sending half; a closed receiver is fine (nobody is watching). It counts what it sent,
/// so a view can wait until it has shown everything (before asking a question, say).
#[derive(Clone)]
pub struct Events {
    tx: Option<UnboundedSender<Event>>,
    sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
    muted: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Events {
    pub fn new(tx: UnboundedSender<Event>) -> Self {
        Events {
            tx: Some(tx),
            sent: Default::default(),
            muted: Default::default(),
        }
    }

    pub fn none() -> Self {
        Events {
            tx: None,
            sent: Default::default(),
            muted: Default::default(),
        }
    }

    pub fn send(&self, e: Event) {
        use std::sync::atomic::Ordering;
        if self.muted.load(Ordering::SeqCst) && !matches!(e, Event::State { .. }) {
            return;
        }
        if let Some(tx) = &self.tx {
            if tx.send(e).is_ok() {
                self.sent.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// How many events have been sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// While muted only state changes go out: for background re-checks whose commands
    /// would read, in a pane, like work being done.
    pub fn mute(&self, muted: bool) {
        self.muted.store(muted, std::sync::atomic::Ordering::SeqCst);
    }
}
