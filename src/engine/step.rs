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

/// A host by what it is in the setup: the primary, or the n-th standby (from 0). Saved by
/// name (`primary`, `standby`, `standby2`, ...), the names journals have always used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Primary,
    Standby(u8),
}

/// The most standbys one setup may have: their base backups run at once, two WAL senders
/// each, within the ten the primary is given (whitelist's `max_wal_senders`).
pub const MAX_STANDBYS: usize = 4;

const STANDBY_NAMES: [&str; MAX_STANDBYS] = ["standby", "standby2", "standby3", "standby4"];

impl Role {
    /// The first (often the only) standby.
    pub const STANDBY: Role = Role::Standby(0);

    /// The primary, then `standbys` standbys.
    pub fn all(standbys: usize) -> Vec<Role> {
        std::iter::once(Role::Primary)
            .chain(Role::standbys(standbys))
            .collect()
    }

    pub fn standbys(n: usize) -> impl Iterator<Item = Role> {
        (0..n.min(MAX_STANDBYS) as u8).map(Role::Standby)
    }

    pub fn is_standby(self) -> bool {
        matches!(self, Role::Standby(_))
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Standby(i) => STANDBY_NAMES
                .get(usize::from(i))
                .copied()
                .unwrap_or("standby?"),
        }
    }

    /// `primary` or `standby`, for messages that do not count.
    pub fn kind(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Standby(_) => "standby",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        if name == "primary" {
            return Some(Role::Primary);
        }
        STANDBY_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Role::Standby(i as u8))
    }

    /// Where the host sits in per-host lists: the primary first, then the standbys.
    pub fn index(self) -> usize {
        match self {
            Role::Primary => 0,
            Role::Standby(i) => 1 + usize::from(i),
        }
    }

    /// The other way round from [`Role::index`].
    pub fn at(index: usize) -> Role {
        match index {
            0 => Role::Primary,
            i => Role::Standby((i - 1).min(MAX_STANDBYS - 1) as u8),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
        let name = String::deserialize(d)?;
        Role::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown host role '{name}'")))
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::parse(s).ok_or_else(|| crate::tr!("error.unknown_host", host = s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_keep_their_journal_names() {
        assert_eq!(
            serde_json::to_string(&Role::STANDBY).unwrap(),
            "\"standby\""
        );
        assert_eq!(
            serde_json::to_string(&Role::Standby(1)).unwrap(),
            "\"standby2\""
        );
        let back: Role = serde_json::from_str("\"standby3\"").unwrap();
        assert_eq!(back, Role::Standby(2));
        assert!(serde_json::from_str::<Role>("\"standby0\"").is_err());
        for r in Role::all(MAX_STANDBYS) {
            assert_eq!(Role::at(r.index()), r);
        }
    }
}
