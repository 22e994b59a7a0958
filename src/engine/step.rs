//! Names and states shared by the engine, the steps and every view.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepId {
    Hosts,
    Install,
    ReplicaRole,
    Whitelist,
    BaseBackup,
    Verify,
}

impl StepId {
    pub const ALL: [StepId; 6] = [
        StepId::Hosts,
        StepId::Install,
        StepId::ReplicaRole,
        StepId::Whitelist,
        StepId::BaseBackup,
        StepId::Verify,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StepId::Hosts => "hosts",
            StepId::Install => "install",
            StepId::ReplicaRole => "replica-role",
            StepId::Whitelist => "whitelist",
            StepId::BaseBackup => "base-backup",
            StepId::Verify => "verify",
        }
    }

    pub fn parse(s: &str) -> Option<StepId> {
        StepId::ALL.into_iter().find(|id| id.name() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for StepId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        StepId::parse(s).ok_or_else(|| {
            crate::tr!(
                "error.unknown_step",
                step = s,
                steps = StepId::ALL.map(|s| s.name()).join(", ")
            )
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    Pending,
    Running,
    Paused,
    Done,
    /// Found already done; nothing was changed.
    Skipped,
    Failed,
    RolledBack,
    /// pgrepl stopped (killed, crashed) while the step was running.
    Interrupted,
}

impl StepState {
    pub fn key(self) -> &'static str {
        match self {
            StepState::Pending => "state.pending",
            StepState::Running => "state.running",
            StepState::Paused => "state.paused",
            StepState::Done => "state.done",
            StepState::Skipped => "state.skipped",
            StepState::Failed => "state.failed",
            StepState::RolledBack => "state.rolled_back",
            StepState::Interrupted => "state.interrupted",
        }
    }

    pub fn is_complete(self) -> bool {
        matches!(self, StepState::Done | StepState::Skipped)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Primary,
    Standby,
}

impl Role {
    pub const BOTH: [Role; 2] = [Role::Primary, Role::Standby];

    pub fn name(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Standby => "standby",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
