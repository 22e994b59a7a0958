//! Step 2: the server packages on both hosts; the primary's cluster created and running.

use async_trait::async_trait;

use super::undo::Undo;
use crate::engine::{Cmd, Cx, Role, Step, StepId, StepResult, UndoRecord};
use crate::platform::{Layout, OsFamily};
use crate::quote::sh;

pub struct Install;

/// What each host needs: the package everywhere; on the primary a running cluster; on a
/// Debian standby a cluster too, because its configuration directory is where the standby
/// settings go.
fn scripts(l: &Layout, r: Role) -> Vec<String> {
    let mut s = vec![l.install()];
    match r {
        Role::Primary => s.push(l.create_cluster()),
        // Its data is replaced by base-backup; only its configuration directory stays.
        Role::Standby if l.family == OsFamily::Debian => s.push(l.create_scratch_cluster()),
        Role::Standby => {}
    }
    if r == Role::Primary {
        s.push(l.start());
        s.extend(l.enable());
    }
    s
}

fn done_check(l: &Layout, r: Role) -> String {
    let mut s = l.package_check();
    if r == Role::Primary {
        s.push_str(&format!(
            " && [ -f {} ]",
            sh(&format!("{}/PG_VERSION", l.data_dir()))
        ));
    } else if l.family == OsFamily::Debian {
        // Its data directory is base-backup's (moved aside, replaced): only the
        // configuration tells that the cluster exists.
        s.push_str(&format!(" && {}", l.has_scratch_cluster()));
    }
    if r == Role::Primary {
        s.push_str(&format!(" && {}", l.is_running()));
    }
    s
}

#[async_trait]
impl Step for Install {
    fn id(&self) -> StepId {
        StepId::Install
    }

    async fn check(&self, cx: &Cx) -> StepResult<bool> {
        let (p, s) = tokio::join!(
            cx.run(
                Role::Primary,
                Cmd::read(done_check(cx.layout(Role::Primary)?, Role::Primary))
            ),
            cx.run(
                Role::Standby,
                Cmd::read(done_check(cx.layout(Role::Standby)?, Role::Standby))
            )
        );
        Ok(p?.ok() && s?.ok())
    }

    async fn apply(&self, cx: &mut Cx) -> StepResult<()> {
        let primary = cx.layout(Role::Primary)?;
        let was_running = cx
            .run(Role::Primary, Cmd::read(primary.is_running()))
            .await?
            .ok();
        if !was_running {
            super::undo::remember(
                cx,
                Undo::Service {
                    host: Role::Primary,
                    was_running: false,
                },
            )?;
        }
        let cx = &*cx;
        // The two hosts install at the same time; each host's commands run in order.
        let on = |r: Role| async move {
            for s in scripts(cx.layout(r)?, r) {
                cx.change(r, Cmd::new(s)).await?;
            }
            StepResult::Ok(())
        };
        let (p, s) = tokio::join!(on(Role::Primary), on(Role::Standby));
        p.and(s)
    }

    async fn revert(&self, cx: &Cx, record: &UndoRecord) -> StepResult<()> {
        super::undo::revert_shared_only(cx, self.id(), record).await
    }

    fn describe_revert(&self, record: &UndoRecord) -> String {
        super::undo::describe_record(record)
    }
}
