//! The journal: what pgrepl changed on the hosts and how to undo it. Written ahead of every
//! change (tmp file + fsync + rename), so a killed pgrepl leaves a journal that still
//! describes every change that may have happened.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Role, StepId, StepState};

pub const JOURNAL_VERSION: u32 = 1;

/// How to undo one change, as the step that made it wrote it. The engine keeps these
/// records in order and hands them back to their step to revert; what they mean is the
/// step's business (see `steps::undo`).
pub type UndoRecord = serde_json::Value;

/// How one command that changed a host ended (written right after it ran).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub host: Role,
    /// The command's first line.
    pub command: String,
    /// None: it did not finish (aborted, connection lost).
    pub status: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub state: StepState,
    #[serde(default)]
    pub undo: Vec<UndoRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub elapsed_ms: u64,
}

impl Default for StepRecord {
    fn default() -> Self {
        StepRecord {
            state: StepState::Pending,
            undo: vec![],
            outcomes: vec![],
            error: None,
            elapsed_ms: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub version: u32,
    /// Short, stable id of the setup (primary + standby); also names backups on the hosts.
    pub id: String,
    pub primary: String,
    pub standby: String,
    pub steps: BTreeMap<StepId, StepRecord>,
    /// Facts the steps keep across runs (the PostgreSQL major the setup was made with,
    /// say), so a later run or a rollback works with what was, not what is installed now.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub memo: BTreeMap<String, String>,
    #[serde(skip)]
    path: Option<PathBuf>,
}

impl Journal {
    pub fn new(primary: &str, standby: &str) -> Journal {
        Journal {
            version: JOURNAL_VERSION,
            id: setup_id(primary, standby),
            primary: primary.to_string(),
            standby: standby.to_string(),
            steps: BTreeMap::new(),
            memo: BTreeMap::new(),
            path: None,
        }
    }

    /// Loads the journal for this setup from `dir`, or starts a new one there.
    pub fn open(dir: &Path, primary: &str, standby: &str) -> std::io::Result<Journal> {
        let fresh = Journal::new(primary, standby);
        let path = dir.join(format!("journal-{}.json", fresh.id));
        let mut j = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Journal>(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fresh,
            Err(e) => return Err(e),
        };
        if j.version > JOURNAL_VERSION {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: written by a newer pgrepl (version {})",
                    path.display(),
                    j.version
                ),
            ));
        }
        j.path = Some(path);
        Ok(j)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn record(&self, step: StepId) -> StepRecord {
        self.steps.get(&step).cloned().unwrap_or_default()
    }

    pub fn state(&self, step: StepId) -> StepState {
        self.steps
            .get(&step)
            .map(|r| r.state)
            .unwrap_or(StepState::Pending)
    }

    pub fn entry(&mut self, step: StepId) -> &mut StepRecord {
        self.steps.entry(step).or_default()
    }

    /// What rolling back `to` and every later step will revert (on `host` only, when
    /// given), in the order it will run (newest first), each record with its step.
    pub fn undo_plan(&self, to: StepId, host: Option<Role>) -> Vec<(StepId, &UndoRecord)> {
        super::rollback_order(to)
            .flat_map(|id| {
                self.steps.get(&id).into_iter().flat_map(move |rec| {
                    rec.undo
                        .iter()
                        .rev()
                        .filter(move |u| host.map_or(true, |h| record_host(u) == h))
                        .map(move |u| (id, u))
                })
            })
            .collect()
    }

    /// Steps still marked running were cut short: pgrepl is not running them now.
    pub fn mark_interrupted(&mut self) -> Vec<StepId> {
        let mut cut = vec![];
        for (id, rec) in self.steps.iter_mut() {
            if matches!(rec.state, StepState::Running | StepState::Paused) {
                rec.state = StepState::Interrupted;
                cut.push(*id);
            }
        }
        cut
    }

    /// Atomically replaces the file: readers see the old or the new journal, never half.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            crate::private::create_dir(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::private::write(&tmp, &bytes)?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself must survive a power cut, not only the bytes.
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        crash_point();
        Ok(())
    }
}

/// Test hook of the crash-point suite (`tests/lab_crash.rs`), in debug builds only:
/// `PGREPL_CRASH_AT_JOURNAL_WRITE=N` kills this process with SIGKILL right after its Nth
/// journal write has landed, as a power cut or an OOM kill would.
#[cfg(debug_assertions)]
fn crash_point() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let at = std::env::var("PGREPL_CRASH_AT_JOURNAL_WRITE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = at {
        if WRITES.fetch_add(1, Ordering::SeqCst) + 1 == n {
            // SAFETY: kill(2) on our own pid; nothing is shared with the caller.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }
}

#[cfg(not(debug_assertions))]
fn crash_point() {}

/// The host an undo record changes: its `host` field; records without one (roles, tables)
/// change the primary.
pub fn record_host(record: &UndoRecord) -> Role {
    record
        .get("host")
        .and_then(|h| h.as_str())
        .and_then(Role::parse)
        .unwrap_or(Role::Primary)
}

pub fn setup_id(primary: &str, standby: &str) -> String {
    let digest = Sha256::digest(format!("{primary}\n{standby}").as_bytes());
    hex::encode(&digest[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_atomically_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), "root@a:22", "root@b:22").unwrap();
        j.entry(StepId::Whitelist).state = StepState::Running;
        j.entry(StepId::Whitelist)
            .undo
            .push(serde_json::json!({"kind": "remove-file", "host": "primary", "path": "/x"}));
        j.save().unwrap();
        let mut again = Journal::open(dir.path(), "root@a:22", "root@b:22").unwrap();
        assert_eq!(again.steps, j.steps);
        assert_eq!(again.mark_interrupted(), vec![StepId::Whitelist]);
        assert_eq!(again.state(StepId::Whitelist), StepState::Interrupted);
        assert!(!dir
            .path()
            .join(format!("journal-{}.json.tmp", j.id))
            .exists());
        let other = Journal::open(dir.path(), "root@a:22", "root@c:22").unwrap();
        assert_ne!(other.id, j.id);
        assert!(other.steps.is_empty());
    }

    #[test]
    fn only_its_owner_can_read_it() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("state");
        let j = Journal::open(&dir, "root@a:22", "root@b:22").unwrap();
        j.save().unwrap();
        assert_eq!(crate::private::mode(&dir), 0o700);
        assert_eq!(crate::private::mode(j.path().unwrap()), 0o600);
    }

    #[test]
    fn the_format_is_stable() {
        // A journal written by this version must stay readable by later ones.
        let text = r#"{"version":1,"id":"abcd1234","primary":"p","standby":"s","steps":{"base-backup":{"state":"interrupted","undo":[{"kind":"move-back","host":"standby","path":"/d","aside":"/d.old","marker":"/d.ours"}],"elapsed_ms":5}}}"#;
        let j: Journal = serde_json::from_str(text).unwrap();
        assert_eq!(j.state(StepId::BaseBackup), StepState::Interrupted);
    }
}
