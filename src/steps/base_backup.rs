//! Step 5: on the standby, move the old data directory aside, copy the primary with
//! pg_basebackup, configure it as a hot standby and start it.

use std::collections::HashMap;

use async_trait::async_trait;

use super::block::{self, Place};
use super::{application_name, files, primary_address};
use crate::engine::{Cmd, Cx, Role, Step, StepId, StepResult, Undo};
use crate::platform::Layout;
use crate::quote::{conf_value, conninfo_value, pgpass_field, sh};
use crate::secret::{Secret, MASK};

pub struct BaseBackup;

const TAG: &str = "pgrepl standby";

/// Settings a hot standby must hold at least as high as its primary, or it refuses to start.
const AT_LEAST_PRIMARY: [&str; 5] = [
    "max_connections",
    "max_wal_senders",
    "max_worker_processes",
    "max_prepared_transactions",
    "max_locks_per_transaction",
];

struct Paths {
    data: String,
    aside: String,
    marker: String,
    passfile: String,
}

fn paths(cx: &Cx, l: &Layout) -> Paths {
    let id = cx.journal_id();
    let data = l.data_dir();
    Paths {
        aside: format!("{data}.pgrepl-{id}.old"),
        marker: format!("{data}.pgrepl-{id}.ours"),
        passfile: format!("{}/.pgrepl-{id}.pgpass", l.postgres_home()),
        data,
    }
}

/// Moves the old data directory aside (never deletes it). A directory in its place is only
/// removed when the marker says an earlier attempt of ours made it.
fn move_aside_script(p: &Paths) -> String {
    let (d, a, m) = (sh(&p.data), sh(&p.aside), sh(&p.marker));
    format!(
        "if [ -e {a} ]; then\n  \
         if [ -e {d} ]; then\n    \
         if [ -e {m} ]; then rm -rf {d}; else echo \"{d} and {a} both exist and {d} is not pgrepl's: refusing\" >&2; exit 1; fi\n  \
         fi\nelif [ -e {d} ]; then\n  mv {d} {a} && echo moved {d} aside to {a} || exit 1\nfi\n\
         touch {m} && install -d -o postgres -g postgres -m 700 {d}"
    )
}

fn basebackup_script(cx: &Cx, l: &Layout, p: &Paths, addr: &str) -> String {
    format!(
        "{} env PGPASSFILE={} {} -h {} -p {} -U {} -D {} -X stream -P -c fast -w",
        l.as_postgres(),
        sh(&p.passfile),
        l.bin("pg_basebackup"),
        sh(addr),
        cx.setup.pg_port,
        sh(&cx.setup.replication_user),
        sh(&p.data)
    )
}

fn conninfo(cx: &Cx, l: &Layout, p: &Paths, addr: &str, password: Option<&str>) -> String {
    let mut c = format!(
        "host={} port={} user={} application_name={}",
        conninfo_value(addr),
        cx.setup.pg_port,
        conninfo_value(&cx.setup.replication_user),
        conninfo_value(&application_name(cx))
    );
    // libpq learned `passfile` in 10; older standbys keep the password in recovery.conf (0600).
    match (l.version.major >= 10, password) {
        (true, _) => c.push_str(&format!(" passfile={}", conninfo_value(&p.passfile))),
        (false, Some(pw)) => c.push_str(&format!(" password={}", conninfo_value(pw))),
        (false, None) => c.push_str(&format!(" password={MASK}")),
    }
    c
}

fn standby_settings(limits: &HashMap<String, String>) -> Vec<String> {
    let mut lines = vec![
        "hot_standby = on".to_string(),
        format!("max_standby_streaming_delay = {}", conf_value("30s")),
        format!("wal_receiver_status_interval = {}", conf_value("1s")),
        "hot_standby_feedback = on".to_string(),
    ];
    for name in AT_LEAST_PRIMARY {
        if let Some(v) = limits.get(name) {
            lines.push(format!("{name} = {v}"));
        }
    }
    lines
}

fn recovery_conf(conninfo: &str) -> String {
    format!(
        "standby_mode = 'on'\nprimary_conninfo = {}\nrecovery_target_timeline = 'latest'\n",
        conf_value(conninfo)
    )
}

#[async_trait]
impl Step for BaseBackup {
    fn id(&self) -> StepId {
        StepId::BaseBackup
    }

    fn preview(&self, cx: &Cx) -> StepResult<Vec<(Role, String)>> {
        let l = cx.layout(Role::Standby)?;
        let p = paths(cx, l);
        let addr = primary_address(cx)?;
        let mut out = vec![
            (
                Role::Standby,
                format!(
                    "umask 077; cat > {}  # {addr}:{}:*:{}:{MASK}",
                    p.passfile, cx.setup.pg_port, cx.setup.replication_user
                ),
            ),
            (Role::Standby, l.stop()),
            (Role::Standby, move_aside_script(&p)),
            (Role::Standby, basebackup_script(cx, l, &p, &addr)),
        ];
        let info = conninfo(cx, l, &p, &addr, None);
        let mut settings = standby_settings(&HashMap::new());
        if l.version.uses_standby_signal() {
            settings.push(format!("primary_conninfo = {}", conf_value(&info)));
            out.push((
                Role::Standby,
                format!("# {}\n{}", l.conf_file(), block::render(TAG, &settings)),
            ));
            out.push((
                Role::Standby,
                format!("touch {}/standby.signal", sh(&p.data)),
            ));
        } else {
            out.push((
                Role::Standby,
                format!("# {}\n{}", l.conf_file(), block::render(TAG, &settings)),
            ));
            out.push((
                Role::Standby,
                format!("# {}/recovery.conf\n{}", p.data, recovery_conf(&info)),
            ));
        }
        out.push((
            Role::Standby,
            format!(
                "chown -R postgres:postgres {d} && chmod 700 {d}",
                d = sh(&p.data)
            ),
        ));
        out.push((Role::Standby, l.start()));
        Ok(out)
    }

    async fn check(&self, cx: &Cx) -> StepResult<bool> {
        let l = cx.layout(Role::Standby)?;
        let addr = primary_address(cx)?;
        let sql = if l.version >= (crate::platform::PgVersion { major: 9, minor: 6 }) {
            format!(
                "SELECT pg_is_in_recovery(), (SELECT count(*) FROM pg_stat_wal_receiver WHERE conninfo LIKE {}) ;",
                crate::quote::sql_literal(&format!("%host={addr} %"))
            )
        } else {
            "SELECT pg_is_in_recovery(), 1;".to_string()
        };
        let done = cx.run(Role::Standby, Cmd::sql(l.psql(), &sql)).await?;
        let rows = crate::engine::rows(&done.stdout);
        Ok(done.ok()
            && rows.first().is_some_and(|r| {
                r.first().map(String::as_str) == Some("t")
                    && r.get(1).map(String::as_str) != Some("0")
            }))
    }

    async fn apply(&self, cx: &mut Cx) -> StepResult<()> {
        let l = cx.layout(Role::Standby)?.clone();
        let p = paths(cx, &l);
        let addr = primary_address(cx)?;
        let password = super::password(cx)?.clone();
        let limits = super::settings(cx, Role::Primary, &AT_LEAST_PRIMARY).await?;

        // The password file, readable by postgres only, written through stdin.
        let pf = sh(&p.passfile);
        let existed = cx
            .run(Role::Standby, Cmd::new(format!("[ -e {pf} ]")))
            .await?
            .ok();
        if !existed {
            cx.remember(Undo::RemoveFile {
                host: Role::Standby,
                path: p.passfile.clone(),
            })?;
        }
        let line = Secret::new(format!(
            "{}:{}:*:{}:{}\n",
            pgpass_field(&addr),
            cx.setup.pg_port,
            pgpass_field(&cx.setup.replication_user),
            pgpass_field(password.expose())
        ));
        cx.change(
            Role::Standby,
            Cmd::new(format!(
                "umask 077; cat > {pf}.new && chown postgres:postgres {pf}.new && chmod 600 {pf}.new && mv -f {pf}.new {pf}"
            ))
            .secret(&line),
        )
        .await?;

        let was_running = cx.run(Role::Standby, Cmd::new(l.is_running())).await?.ok();
        cx.remember(Undo::Service {
            host: Role::Standby,
            was_running,
        })?;
        cx.change(Role::Standby, Cmd::new(l.stop())).await?;
        cx.remember(Undo::MoveBack {
            host: Role::Standby,
            path: p.data.clone(),
            aside: p.aside.clone(),
            marker: p.marker.clone(),
        })?;
        cx.change(Role::Standby, Cmd::new(move_aside_script(&p)))
            .await?;
        cx.change(
            Role::Standby,
            Cmd::new(basebackup_script(cx, &l, &p, &addr)),
        )
        .await?;

        let mut settings = standby_settings(&limits);
        if l.version.uses_standby_signal() {
            settings.push(format!(
                "primary_conninfo = {}",
                conf_value(&conninfo(cx, &l, &p, &addr, None))
            ));
        }
        let conf = files::read(cx, Role::Standby, &l.conf_file())
            .await?
            .unwrap_or_default();
        let new_conf = block::put(&conf, TAG, &block::render(TAG, &settings), Place::Bottom);
        files::write(
            cx,
            Role::Standby,
            &l.conf_file(),
            &new_conf,
            "postgres:postgres",
            "0644",
        )
        .await?;
        let d = sh(&p.data);
        if l.version.uses_standby_signal() {
            cx.change(Role::Standby, Cmd::new(format!("touch {d}/standby.signal")))
                .await?;
        } else {
            let text = Secret::new(recovery_conf(&conninfo(
                cx,
                &l,
                &p,
                &addr,
                Some(password.expose()),
            )));
            cx.change(
                Role::Standby,
                Cmd::new(format!("umask 077; cat > {d}/recovery.conf")).secret(&text),
            )
            .await?;
        }
        cx.change(
            Role::Standby,
            Cmd::new(format!("chown -R postgres:postgres {d} && chmod 700 {d}")),
        )
        .await?;
        cx.change(Role::Standby, Cmd::new(l.start())).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_conf_quotes_the_conninfo() {
        let r = recovery_conf("host='10.0.0.1' password='it\\'s'");
        assert!(
            r.contains("primary_conninfo = 'host=''10.0.0.1'' password=''it\\\\''s'''"),
            "{r}"
        );
    }

    #[test]
    fn the_old_directory_is_moved_never_removed_unless_ours() {
        let s = move_aside_script(&Paths {
            data: "/d".into(),
            aside: "/d.old".into(),
            marker: "/d.ours".into(),
            passfile: "/p".into(),
        });
        assert!(s.contains("mv /d /d.old"));
        // the only rm -rf is guarded by the marker
        let guarded = s
            .lines()
            .filter(|l| l.contains("rm -rf"))
            .all(|l| l.contains("[ -e /d.ours ]"));
        assert!(guarded, "{s}");
    }
}
