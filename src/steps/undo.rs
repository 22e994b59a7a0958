//! The undo records steps write to the journal before they change a host, and the
//! reverts several steps share (files, the server's state). A record names its step's
//! intent; the step that wrote it reverts it (`Step::revert`), so each step file tells
//! its story in both directions. The serde tags are the journal's format: keep them.

use serde::{Deserialize, Serialize};

use crate::engine::{Cmd, Cx, Role, StepError, StepResult, UndoRecord};
use crate::quote::sh;
use crate::tr;

/// One way to undo one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Undo {
    /// Put back a file from its backup; `sha256` is the original's, checked after restoring.
    /// `written` is the checksum of what pgrepl wrote: a file that is neither has been
    /// edited since, and those edits are kept in a copy before the original comes back.
    RestoreFile {
        host: Role,
        path: String,
        backup: String,
        sha256: String,
        #[serde(default)]
        written: String,
    },
    /// Remove a file pgrepl created (it did not exist before).
    RemoveFile { host: Role, path: String },
    /// Put the previous data directory back; `marker` says the one in its place is ours,
    /// `started` that ours has run as a server. Without an original (`had_original` false)
    /// the copy is simply removed.
    MoveBack {
        host: Role,
        path: String,
        aside: String,
        marker: String,
        #[serde(default)]
        started: String,
        #[serde(default = "yes")]
        had_original: bool,
    },
    /// Drop a role the step created.
    DropRole { name: String },
    /// A role that existed before: put its attributes and password back from a 0600 file.
    RestoreRole { name: String, saved: String },
    /// Drop a table the step created.
    DropTable { name: String },
    /// Return the server to the running/stopped state it had before.
    Service { host: Role, was_running: bool },
    /// Packages pgrepl installed. Removed only when the user asks for it
    /// (`rollback --purge-packages`): other software may have come to need them.
    RemovePackages { host: Role, packages: Vec<String> },
    /// A cluster pgrepl created: stopped, and its data (and configuration) directory set
    /// aside under `aside`, never deleted: it may hold data written since.
    SetAsideCluster {
        host: Role,
        data: String,
        conf: Option<String>,
        aside: String,
    },
    /// A service pgrepl enabled at boot.
    DisableService { host: Role, unit: String },
    /// Reload the server if it runs, so restored files take effect (a run that only
    /// reloaded).
    Reload { host: Role },
    /// Restart the server if it runs, so restored config files take effect. Recorded
    /// before the edits it belongs to, so that rollback runs it after restoring them.
    Restart { host: Role },
    /// Take away a firewall rule pgrepl added (`--open-firewall`), with this command.
    CloseFirewall { host: Role, command: String },
}

/// Old journals did not say; assume there was an original, so nothing is ever removed.
fn yes() -> bool {
    true
}

impl Undo {
    pub fn record(&self) -> UndoRecord {
        // A derived Serialize of plain strings, bools and enums cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// A record this version cannot read is an error, never skipped: skipping could leave
    /// a change on a host that rollback claims to have undone.
    pub fn parse(record: &UndoRecord) -> StepResult<Undo> {
        serde_json::from_value(record.clone())
            .map_err(|e| StepError::new(tr!("error.undo_record", problem = e)))
    }

    /// One line saying what undoing it will do.
    pub fn describe(&self) -> String {
        describe(self)
    }
}

/// Records how to undo a change before making it (write-ahead), once.
pub fn remember(cx: &Cx, undo: Undo) -> StepResult<()> {
    cx.remember(undo.record())
}

/// The changes this step recorded so far (for a retry to reuse).
pub fn remembered(cx: &Cx) -> Vec<Undo> {
    cx.remembered()
        .iter()
        .filter_map(|r| Undo::parse(r).ok())
        .collect()
}

/// Reverts a record that is not a step's own: the ones every step may write (files, the
/// server's running state); any other is an error naming `step`.
pub async fn revert_common(cx: &Cx, step: crate::engine::StepId, u: &Undo) -> StepResult<()> {
    match revert_shared(cx, u).await {
        Some(result) => result,
        None => Err(not_mine(step, u)),
    }
}

/// Files and the server's running state; `None` for a record that belongs to one step.
async fn revert_shared(cx: &Cx, u: &Undo) -> Option<StepResult<()>> {
    Some(match u {
        Undo::RestoreFile {
            host,
            path,
            backup,
            sha256,
            written,
        } => {
            let script = super::files::restore_file_script(path, backup, sha256, written);
            cx.change(*host, Cmd::new(script)).await.map(|_| ())
        }
        Undo::RemoveFile { host, path } => cx
            .change(*host, Cmd::new(format!("rm -f {}", sh(path))))
            .await
            .map(|_| ()),
        Undo::Service { host, was_running } => {
            let script = match cx.layout(*host) {
                Ok(l) if *was_running => l.start(),
                Ok(l) => l.stop(),
                Err(e) => return Some(Err(e)),
            };
            cx.change(*host, Cmd::new(script)).await.map(|_| ())
        }
        Undo::Reload { host } => {
            let script = match cx.layout(*host) {
                Ok(l) => format!(
                    "! {} || echo 'SELECT pg_reload_conf();' | {}",
                    l.is_running(),
                    l.psql()
                ),
                Err(e) => return Some(Err(e)),
            };
            cx.change(*host, Cmd::new(script)).await.map(|_| ())
        }
        Undo::Restart { host } => {
            let script = match cx.layout(*host) {
                Ok(l) => format!("! {} || {{ {}; }}", l.is_running(), l.restart()),
                Err(e) => return Some(Err(e)),
            };
            cx.change(*host, Cmd::new(script)).await.map(|_| ())
        }
        _ => return None,
    })
}

/// What reverting `record` will do, in one line.
pub fn describe_record(record: &UndoRecord) -> String {
    match Undo::parse(record) {
        Ok(u) => describe(&u),
        Err(e) => e.message,
    }
}

/// The revert for a record no step claims: a bug, or a journal from another version.
fn not_mine(step: crate::engine::StepId, u: &Undo) -> StepError {
    StepError::new(tr!(
        "error.undo_record",
        problem = format!("{step} cannot revert {}", describe(u))
    ))
}

/// One line saying what undoing `u` will do.
pub fn describe(u: &Undo) -> String {
    match u {
        Undo::RestoreFile {
            host, path, backup, ..
        } => tr!(
            "undo.restore_file",
            host = host,
            path = path,
            backup = backup
        ),
        Undo::RemoveFile { host, path } => tr!("undo.remove_file", host = host, path = path),
        Undo::MoveBack {
            host, path, aside, ..
        } => tr!("undo.move_back", host = host, path = path, aside = aside),
        Undo::DropRole { name } => tr!("undo.drop_role", role = name),
        Undo::RestoreRole { name, .. } => tr!("undo.restore_role", role = name),
        Undo::DropTable { name } => tr!("undo.drop_table", table = name),
        Undo::Restart { host } => tr!("undo.restart", host = host),
        Undo::Reload { host } => tr!("undo.reload", host = host),
        Undo::CloseFirewall { host, command } => {
            tr!("undo.close_firewall", host = host, command = command)
        }
        Undo::RemovePackages { host, packages } => tr!(
            "undo.remove_packages",
            host = host,
            packages = packages.join(" ")
        ),
        Undo::SetAsideCluster {
            host, data, aside, ..
        } => tr!(
            "undo.set_aside_cluster",
            host = host,
            data = data,
            aside = aside
        ),
        Undo::DisableService { host, unit } => {
            tr!("undo.disable_service", host = host, unit = unit)
        }
        Undo::Service { host, was_running } => {
            tr!(
                if *was_running {
                    "undo.service_start"
                } else {
                    "undo.service_stop"
                },
                host = host
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_stable() {
        // Records written by earlier versions must stay readable, defaults included.
        let old = serde_json::json!({"kind":"move-back","host":"standby","path":"/d","aside":"/d.old","marker":"/d.ours"});
        assert_eq!(
            Undo::parse(&old).unwrap(),
            Undo::MoveBack {
                host: Role::STANDBY,
                path: "/d".into(),
                aside: "/d.old".into(),
                marker: "/d.ours".into(),
                started: String::new(),
                had_original: true,
            }
        );
        let u = Undo::RestoreFile {
            host: Role::Primary,
            path: "/etc/x".into(),
            backup: "/etc/x.bak".into(),
            sha256: "00".into(),
            written: String::new(),
        };
        assert_eq!(
            u.record().to_string(),
            r#"{"backup":"/etc/x.bak","host":"primary","kind":"restore-file","path":"/etc/x","sha256":"00","written":""}"#
        );
        assert_eq!(Undo::parse(&u.record()).unwrap(), u);
        assert!(Undo::parse(&serde_json::json!({"kind": "format-disk"})).is_err());
    }
}
