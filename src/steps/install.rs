//! Step 2: the server packages on every host; the primary's cluster created and running.

use async_trait::async_trait;
use futures::future::join_all;

use super::undo::{remember, revert_common, Undo};
use crate::engine::{Cmd, Cx, Role, Step, StepId, StepResult, UndoRecord};
use crate::platform::{Layout, OsFamily};
use crate::quote::sh;
use crate::tr;

pub struct Install;

/// What each host needs: the package everywhere; on the primary a running cluster; on a
/// Debian standby a cluster too, because its configuration directory is where the standby
/// settings go.
fn scripts(l: &Layout, r: Role) -> Vec<String> {
    let mut s = vec![l.install()];
    match r {
        Role::Primary => s.push(l.create_cluster()),
        // Its data is replaced by base-backup; only its configuration directory stays.
        Role::Standby(_) if l.family == OsFamily::Debian => s.push(l.create_scratch_cluster()),
        Role::Standby(_) => {}
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

/// Before installing on `r`: records what this run will add there (packages, a cluster,
/// a service enabled at boot), so rollback can take exactly that back, and says so.
async fn record_what_is_new(cx: &Cx, l: &Layout, r: Role) -> StepResult<()> {
    if !cx.run(r, Cmd::read(l.package_check())).await?.ok() {
        remember(
            cx,
            Undo::RemovePackages {
                host: r,
                packages: vec![l.package()],
            },
        )?;
        cx.explain(r, tr!("note.installs_packages", packages = l.package()));
    }
    let creates = r == Role::Primary || l.family == OsFamily::Debian;
    let exists = if r == Role::Primary {
        l.has_cluster()
    } else {
        l.has_scratch_cluster()
    };
    if creates && !cx.run(r, Cmd::read(exists)).await?.ok() {
        let aside = format!("{}.pgrepl-{}.removed", l.data_dir(), cx.journal_id());
        remember(
            cx,
            Undo::SetAsideCluster {
                host: r,
                data: l.data_dir(),
                conf: l.separate_conf_dir(),
                aside: aside.clone(),
            },
        )?;
        cx.explain(r, tr!("note.creates_cluster", aside = aside));
    }
    if let (Role::Primary, Some(unit)) = (r, l.unit()) {
        let enabled = format!("systemctl is-enabled --quiet {}", sh(&unit));
        if !cx.run(r, Cmd::read(enabled)).await?.ok() {
            cx.explain(r, tr!("note.enables_service", unit = unit));
            remember(cx, Undo::DisableService { host: r, unit })?;
        }
    }
    Ok(())
}

/// Stops a cluster pgrepl created and moves its data directory (and, on Debian, its
/// configuration directory, or `pg_lsclusters` would still list it) under `aside`.
fn set_aside_script(stop: &str, data: &str, conf: Option<&str>, aside: &str) -> String {
    let (d, a) = (sh(data), sh(aside));
    let mut s = format!(
        "{{ {stop}; }} || exit 1
mkdir -p {a} || exit 1
         if [ -e {d} ]; then mv {d} {a}/data && echo \"set aside {d} at {a}/data\" || exit 1; fi"
    );
    if let Some(c) = conf {
        let c = sh(c);
        s.push_str(&format!(
            "
if [ -e {c} ]; then mv {c} {a}/conf && echo \"set aside {c} at {a}/conf\" || exit 1; fi"
        ));
    }
    s
}

#[async_trait]
impl Step for Install {
    fn id(&self) -> StepId {
        StepId::Install
    }

    async fn check(&self, cx: &Cx) -> StepResult<bool> {
        let checks = cx.setup.roles().into_iter().map(|r| async move {
            let l = cx.layout(r)?;
            Ok(cx.run(r, Cmd::read(done_check(l, r))).await?.ok())
        });
        let done: StepResult<Vec<bool>> = join_all(checks).await.into_iter().collect();
        Ok(done?.into_iter().all(|d| d))
    }

    async fn apply(&self, cx: &mut Cx) -> StepResult<()> {
        let primary = cx.layout(Role::Primary)?;
        let was_running = cx
            .run(Role::Primary, Cmd::read(primary.is_running()))
            .await?
            .ok();
        if !was_running {
            remember(
                cx,
                Undo::Service {
                    host: Role::Primary,
                    was_running: false,
                },
            )?;
        }
        let cx = &*cx;
        // The hosts install at the same time; each host's commands run in order.
        let on = |r: Role| async move {
            let l = cx.layout(r)?;
            record_what_is_new(cx, l, r).await?;
            for s in scripts(l, r) {
                cx.change(r, Cmd::new(s)).await?;
            }
            StepResult::Ok(())
        };
        let results = join_all(cx.setup.roles().into_iter().map(on)).await;
        results.into_iter().collect()
    }

    /// Takes back what install added: the service's boot start, the clusters it created
    /// (set aside, never deleted) and, when asked, the packages.
    async fn revert(&self, cx: &Cx, record: &UndoRecord) -> StepResult<()> {
        let u = Undo::parse(record)?;
        match &u {
            Undo::DisableService { host, unit } => {
                cx.change(*host, Cmd::new(format!("systemctl disable {}", sh(unit))))
                    .await?;
            }
            Undo::SetAsideCluster {
                host,
                data,
                conf,
                aside,
            } => {
                let stop = cx.layout(*host)?.stop();
                cx.change(
                    *host,
                    Cmd::new(set_aside_script(&stop, data, conf.as_deref(), aside)),
                )
                .await?;
            }
            Undo::RemovePackages { host, packages } if cx.purge_packages => {
                let l = cx.layout(*host)?;
                for p in packages {
                    if *p == l.package() {
                        cx.change(*host, Cmd::new(l.remove_package())).await?;
                    }
                }
            }
            Undo::RemovePackages { host, packages } => {
                cx.note(
                    Some(*host),
                    tr!("note.packages_kept", packages = packages.join(" ")),
                );
            }
            _ => return revert_common(cx, self.id(), &u).await,
        }
        Ok(())
    }
}
