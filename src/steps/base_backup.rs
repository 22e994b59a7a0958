//! Step 5: on the standby, move the old data directory aside, copy the primary with
//! pg_basebackup, configure it as a hot standby and start it.

use std::collections::HashMap;

use async_trait::async_trait;
use futures::future::join_all;

use super::block::{self, Place};
use super::undo::{remember, revert_common, Undo};
use super::{application_name, files, primary_address};
use crate::engine::{Cmd, Cx, Role, Step, StepError, StepId, StepResult, UndoRecord};
use crate::platform::{copy_mismatches, Layout};
use crate::quote::{conf_value, conninfo_value, pgpass_field, sh};
use crate::secret::{Secret, MASK};
use crate::tr;

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
    /// Exists while the directory at `data` is a copy pgrepl made.
    marker: String,
    /// Exists once that copy has run as a server: it may hold writes (a promoted standby),
    /// so it is moved away, never deleted, by a later base backup.
    started: String,
    passfile: String,
    /// The account and group that own the data directory (`postgres`, `postgres`).
    owner: (String, String),
}

fn paths(cx: &Cx, l: &Layout) -> Paths {
    let id = cx.journal_id();
    let data = l.data_dir();
    Paths {
        aside: format!("{data}.pgrepl-{id}.old"),
        marker: format!("{data}.pgrepl-{id}.ours"),
        started: format!("{data}.pgrepl-{id}.started"),
        passfile: format!("{}/.pgrepl-{id}.pgpass", l.postgres_home()),
        owner: ("postgres".into(), "postgres".into()),
        data,
    }
}

/// Removes pgrepl's copy of a data directory at `dir`, except one that has run (`started`
/// exists, or `postmaster.opts`, which every server start writes and pg_basebackup never
/// copies: a copy someone started by hand) and was promoted since (it left recovery: no
/// standby.signal, no recovery.conf): that one may hold writes, so it is kept under a new
/// name.
pub fn dispose_copy_script(dir: &str, started: &str, keep_as: &str) -> String {
    let d = sh(dir);
    let c = if started.is_empty() {
        "/dev/null/none".to_string()
    } else {
        sh(started)
    };
    let keep = format!("{}.pgrepl-replaced-$(date +%s)-$$", sh(keep_as));
    format!(
        "if {{ [ -e {c} ] || [ -e {d}/postmaster.opts ]; }} && [ ! -e {d}/standby.signal ] && [ ! -e {d}/recovery.conf ]; then\n  \
         keep={keep} && mv {d} \"$keep\" && echo \"kept a promoted copy at $keep\" || exit 1\n\
         else\n  rm -rf {d} || exit 1\nfi\nrm -f {c}"
    )
}

/// Puts the old data directory back. The server must be down first (stopped by root
/// before this runs as the directories' owner). The marker goes
/// before the original comes back, so no interruption can leave a marker that vouches for
/// the user's directory; the copy is disposed of last, also when an earlier, interrupted
/// rollback left it behind.
pub fn move_back_script(
    path: &str,
    aside: &str,
    marker: &str,
    started: &str,
    had_original: bool,
) -> String {
    let (p, a, m) = (sh(path), sh(aside), sh(marker));
    let discard_path = format!("{path}.pgrepl-discard");
    let discard = sh(&discard_path);
    let no_original = if had_original {
        String::new()
    } else {
        format!(
            "elif [ -e {m} ] && [ -e {p} ]; then\n  \
             mv {p} {discard} && rm -f {m} || exit 1\n  echo there was no directory before: the copy goes\n"
        )
    };
    format!(
        "if [ -e {a} ]; then\n  \
         if [ -e {p} ]; then\n    \
         if [ -e {m} ]; then mv {p} {discard} || exit 1; else echo \"{p} exists and is not pgrepl's; leaving both\" >&2; exit 1; fi\n  \
         fi\n  rm -f {m} && mv {a} {p} || exit 1\n  echo put back {p}\n\
         {no_original}else\n  rm -f {m}\nfi\n\
         if [ -e {discard} ]; then\n{}\nfi",
        dispose_copy_script(&discard_path, started, path)
    )
}

/// The "standby" must not be a server in use: one running as a primary (not in recovery)
/// that holds data or serves clients is what a swapped config would stop and replace.
/// `--force` takes it anyway (it is moved aside, not deleted).
async fn refuse_a_live_server(cx: &Cx, standby: Role) -> StepResult<()> {
    if cx.setup.allow.force {
        return Ok(());
    }
    let rows = super::sql(
        cx,
        standby,
        "SELECT pg_is_in_recovery(), \
         (SELECT count(*) FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')), \
         (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema'));",
    )
    .await?;
    let row = rows.first().cloned().unwrap_or_default();
    let field = |i: usize| row.get(i).cloned().unwrap_or_default();
    if field(0) != "f" {
        return Ok(());
    }
    let databases: u64 = field(1).parse().unwrap_or(0);
    let tables: u64 = field(2).parse().unwrap_or(0);
    let sessions = super::client_sessions(cx, standby).await?;
    if databases + tables + sessions > 0 {
        return Err(StepError::new(tr!(
            "error.standby_in_use",
            host = cx.setup.target(standby).host,
            databases = databases,
            tables = tables,
            sessions = sessions
        ))
        .hint(tr!("hint.standby_in_use")));
    }
    Ok(())
}

/// A physical copy needs the primary's architecture and C library, and is only tested on
/// its OS release (see `platform::copy_mismatches`). `--force` takes it anyway.
fn refuse_another_platform(cx: &Cx, standby: Role) -> StepResult<()> {
    if cx.setup.allow.force {
        return Ok(());
    }
    let found = copy_mismatches(cx.facts(Role::Primary)?, cx.facts(standby)?);
    if found.is_empty() {
        return Ok(());
    }
    let differences = found
        .iter()
        .map(|(what, p, s)| format!("{what} {p} / {s}"))
        .collect::<Vec<_>>()
        .join("; ");
    Err(StepError::new(tr!(
        "error.standby_platform",
        host = standby,
        differences = differences
    ))
    .hint(tr!("hint.standby_platform")))
}

/// Moves the old data directory aside (never deletes it). A directory in its place is only
/// removed when the marker says it is a copy of ours, and a copy of ours that was promoted
/// is kept under a new name instead.
fn move_aside_script(p: &Paths) -> String {
    let (d, a, m) = (sh(&p.data), sh(&p.aside), sh(&p.marker));
    format!(
        "if [ -e {d} ] && [ -e {m} ]; then\n{}\n\
         elif [ -e {d} ]; then\n  \
         if [ -e {a} ]; then echo \"{d} and {a} both exist and {d} is not pgrepl's: refusing\" >&2; exit 1; fi\n  \
         mv {d} {a} && echo moved {d} aside to {a} || exit 1\nfi\n\
         touch {m} && install -d -o {o} -g {g} -m 700 {d}",
        dispose_copy_script(&p.data, &p.started, &p.data),
        o = sh(&p.owner.0),
        g = sh(&p.owner.1)
    )
}

/// Exit status 0 when the standby's configuration follows the primary at `addr`: the
/// standby signal and primary_conninfo (PG >= 12) or recovery.conf. Read from the files, so
/// it holds whether the server runs or not. Our conninfo quotes the host (doubled inside
/// the config value); a hand-written one may not.
fn follows_script(l: &Layout, addr: &str) -> String {
    let pattern = sh(&format!("host=('')?{}('')?( |')", addr.replace('.', "\\.")));
    let d = sh(&l.data_dir());
    if l.version.uses_standby_signal() {
        format!(
            "[ -e {d}/standby.signal ] && grep -qE {pattern} {}",
            sh(&l.conf_file())
        )
    } else {
        format!("grep -qE {pattern} {d}/recovery.conf")
    }
}

/// Marks the copy as having run (see [`Paths::started`]), then starts the standby: marked
/// first, because a start that reports failure may still have started it.
fn start_script(l: &Layout, p: &Paths) -> String {
    let touch = files::as_owner_beside(&p.started, &format!("touch {}", sh(&p.started)));
    format!("( {touch} ) && {{ {}; }}", l.start())
}

/// Runs a script that works among the data directories as their parent's owner (see
/// `files::as_owner_of`): moves, markers and the copy's mode are the postgres account's
/// business, never root's.
fn among_data_dirs(p: &Paths, script: &str) -> String {
    files::as_owner_beside(&p.data, script)
}

/// Whether a data directory of the user's is there to keep (rather than a copy of ours).
fn had_original_script(p: &Paths) -> String {
    let (d, a, m) = (sh(&p.data), sh(&p.aside), sh(&p.marker));
    format!("[ -e {a} ] || {{ [ -e {d} ] && [ ! -e {m} ]; }}")
}

/// Reads pg_basebackup's `-P` lines: `12345/67890 kB (18%), 0/1 tablespace`.
pub fn progress(line: &str) -> Option<(u64, u64)> {
    let (nums, rest) = line.trim().split_once(" kB")?;
    if !rest.trim_start().starts_with('(') {
        return None;
    }
    let (done, total) = nums.split_once('/')?;
    Some((done.trim().parse().ok()?, total.trim().parse().ok()?))
}

fn basebackup_script(cx: &Cx, l: &Layout, p: &Paths, addr: &str) -> String {
    format!(
        "{} env PGPASSFILE={} PGCONNECT_TIMEOUT=15 {} -h {} -p {} -U {} -D {} -X stream -P -c fast -w",
        l.as_postgres(),
        sh(&p.passfile),
        l.bin("pg_basebackup"),
        sh(addr),
        cx.setup.pg_port,
        sh(&cx.setup.replication_user),
        sh(&p.data)
    )
}

fn conninfo(
    cx: &Cx,
    standby: Role,
    l: &Layout,
    p: &Paths,
    addr: &str,
    password: Option<&str>,
) -> String {
    let mut c = format!(
        "host={} port={} user={} application_name={}",
        conninfo_value(addr),
        cx.setup.pg_port,
        conninfo_value(&cx.setup.replication_user),
        conninfo_value(&application_name(cx, standby))
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

/// Whether `standby` is in recovery, configured to follow this primary, and the password
/// it has stored logs in there.
async fn follows(cx: &Cx, standby: Role) -> StepResult<bool> {
    let l = cx.layout(standby)?;
    let in_recovery = format!(
        "[ \"$(echo 'SELECT pg_is_in_recovery();' | {})\" = t ]",
        l.psql()
    );
    let addr = primary_address(cx, standby)?;
    let follows = follows_script(l, &addr);
    let p = paths(cx, l);
    // A standby set up without pgrepl keeps its own password store: not ours to judge.
    let login = format!(
        "{{ [ ! -e {} ] || {}; }}",
        sh(&p.passfile),
        stored_login_script(cx, l, &p, &addr)
    );
    let done = cx
        .run(
            standby,
            Cmd::read(format!("{in_recovery} && {follows} && {login}")),
        )
        .await?;
    Ok(done.ok())
}

/// Whether the password pgrepl stored on `standby` logs in to the primary for replication
/// now, on a fresh connection; `None` when pgrepl stored none there.
pub async fn stored_login(cx: &Cx, standby: Role) -> StepResult<Option<bool>> {
    let l = cx.layout(standby)?;
    let p = paths(cx, l);
    let stored = cx
        .run(standby, Cmd::read(format!("[ -e {} ]", sh(&p.passfile))))
        .await?
        .ok();
    if !stored {
        return Ok(None);
    }
    let addr = primary_address(cx, standby)?;
    let login = stored_login_script(cx, l, &p, &addr);
    Ok(Some(cx.run(standby, Cmd::read(login)).await?.ok()))
}

/// Moves `standby`'s data directory aside, copies the primary there, configures and
/// starts it.
async fn copy(
    cx: &Cx,
    standby: Role,
    limits: &HashMap<String, String>,
    password: &Secret,
) -> StepResult<()> {
    let l = cx.layout(standby)?.clone();
    let p = paths(cx, &l);
    let addr = primary_address(cx, standby)?;
    // A copy of ours, fully configured, that merely is not running (stopped, or its start
    // failed last time) or whose stored password is stale (the role's changed) gets its
    // password written again and is started, rather than copied again.
    let ready = format!("[ -e {} ] && {}", sh(&p.marker), follows_script(&l, &addr));
    if cx.run(standby, Cmd::read(ready)).await?.ok() {
        write_passfile(cx, standby, &p, &addr, password).await?;
        if !l.version.uses_standby_signal() {
            write_recovery_conf(cx, standby, &l, &p, &addr, password).await?;
        }
        if !cx.run(standby, Cmd::read(l.is_running())).await?.ok() {
            cx.change(standby, Cmd::new(start_script(&l, &p))).await?;
        }
        return Ok(());
    }
    refuse_another_platform(cx, standby)?;
    write_passfile(cx, standby, &p, &addr, password).await?;

    let was_running = cx.run(standby, Cmd::read(l.is_running())).await?.ok();
    let ours = cx
        .run(standby, Cmd::read(format!("[ -e {} ]", sh(&p.marker))))
        .await?
        .ok();
    if was_running && !ours {
        refuse_a_live_server(cx, standby).await?;
    }
    remember(
        cx,
        Undo::Service {
            host: standby,
            was_running,
        },
    )?;
    cx.change(standby, Cmd::new(l.stop())).await?;
    let had_original = cx
        .run(standby, Cmd::read(had_original_script(&p)))
        .await?
        .ok();
    remember(
        cx,
        Undo::MoveBack {
            host: standby,
            path: p.data.clone(),
            aside: p.aside.clone(),
            marker: p.marker.clone(),
            started: p.started.clone(),
            had_original,
        },
    )?;
    cx.change(
        standby,
        Cmd::new(among_data_dirs(&p, &move_aside_script(&p))),
    )
    .await?;
    cx.change(
        standby,
        Cmd::new(basebackup_script(cx, &l, &p, &addr)).progress(progress),
    )
    .await?;

    let mut settings = standby_settings(limits);
    if l.version.uses_standby_signal() {
        settings.push(format!(
            "primary_conninfo = {}",
            conf_value(&conninfo(cx, standby, &l, &p, &addr, None))
        ));
    }
    let conf = files::read(cx, standby, &l.conf_file())
        .await?
        .unwrap_or_default();
    let new_conf = block::put(&conf, TAG, &block::render(TAG, &settings), Place::Bottom)
        .map_err(StepError::new)?;
    files::write(
        cx,
        standby,
        &l.conf_file(),
        &new_conf,
        "postgres:postgres",
        "0644",
    )
    .await?;
    let d = sh(&p.data);
    if l.version.uses_standby_signal() {
        let signal = files::as_owner_of(&p.data, &format!("touch {d}/standby.signal"));
        cx.change(standby, Cmd::new(signal)).await?;
    } else {
        write_recovery_conf(cx, standby, &l, &p, &addr, password).await?;
    }
    cx.change(
        standby,
        Cmd::new(among_data_dirs(&p, &format!("chmod 700 {d}"))),
    )
    .await?;
    cx.change(standby, Cmd::new(start_script(&l, &p))).await?;
    if let Some(enable) = l.enable() {
        cx.change(standby, Cmd::new(enable)).await?;
    }
    Ok(())
}

/// The password file, readable by postgres only, written through stdin.
async fn write_passfile(
    cx: &Cx,
    standby: Role,
    p: &Paths,
    addr: &str,
    password: &Secret,
) -> StepResult<()> {
    let pf = sh(&p.passfile);
    let existed = cx
        .run(standby, Cmd::read(format!("[ -e {pf} ]")))
        .await?
        .ok();
    if !existed {
        remember(
            cx,
            Undo::RemoveFile {
                host: standby,
                path: p.passfile.clone(),
            },
        )?;
    }
    let line = Secret::new(format!(
        "{}:{}:*:{}:{}\n",
        pgpass_field(addr),
        cx.setup.pg_port,
        pgpass_field(&cx.setup.replication_user),
        pgpass_field(password.expose())
    ));
    cx.change(
        standby,
        Cmd::new(files::write_private_script(&p.passfile, false)).secret(&line),
    )
    .await?;

    Ok(())
}

/// recovery.conf (before PostgreSQL 12): 0600, with the password in it before 10.
async fn write_recovery_conf(
    cx: &Cx,
    standby: Role,
    l: &Layout,
    p: &Paths,
    addr: &str,
    password: &Secret,
) -> StepResult<()> {
    let text = Secret::new(recovery_conf(&conninfo(
        cx,
        standby,
        l,
        p,
        addr,
        Some(password.expose()),
    )));
    cx.change(
        standby,
        Cmd::new(files::write_private_script(
            &format!("{}/recovery.conf", p.data),
            false,
        ))
        .secret(&text),
    )
    .await?;
    Ok(())
}

/// Exit status 0 when the password the standby has stored still logs in to the primary for
/// replication: after the role's password changed, the running walreceiver keeps its
/// connection and only its next one would fail.
fn stored_login_script(cx: &Cx, l: &Layout, p: &Paths, addr: &str) -> String {
    let target = format!(
        "host={} port={} user={} dbname=replication replication=true",
        conninfo_value(addr),
        cx.setup.pg_port,
        conninfo_value(&cx.setup.replication_user)
    );
    format!(
        "{} env PGPASSFILE={} PGCONNECT_TIMEOUT=10 {} -X -w -At -c IDENTIFY_SYSTEM {} >/dev/null",
        l.as_postgres(),
        sh(&p.passfile),
        l.bin("psql"),
        sh(&target)
    )
}

#[async_trait]
impl Step for BaseBackup {
    fn id(&self) -> StepId {
        StepId::BaseBackup
    }

    /// Done when every standby is in recovery and configured to follow this primary.
    /// Whether a walreceiver is connected at this instant is not asked: right after the
    /// primary restarts it is briefly not, and that must not cost a new base backup.
    async fn check(&self, cx: &Cx) -> StepResult<bool> {
        for s in cx.setup.standby_roles() {
            if !follows(cx, s).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every standby that does not follow the primary yet gets its copy, all at once (each
    /// pulls from the primary; the slowest sets the pace). One failing does not stop the
    /// others: each ends in a state a retry or a rollback knows.
    async fn apply(&self, cx: &mut Cx) -> StepResult<()> {
        let cx = &*cx;
        let limits = super::settings(cx, Role::Primary, &AT_LEAST_PRIMARY).await?;
        let password = super::password(cx)?.clone();
        let copies = cx.setup.standby_roles().map(|s| {
            let (limits, password) = (&limits, &password);
            async move {
                if follows(cx, s).await? {
                    cx.explain(s, tr!("note.already_done"));
                    return Ok(());
                }
                copy(cx, s, limits, password).await
            }
        });
        let results: Vec<StepResult<()>> = join_all(copies).await;
        results.into_iter().collect()
    }

    /// The old data directory comes back (see [`move_back_script`]); the password file
    /// goes and the server returns to the state it had.
    async fn revert(&self, cx: &Cx, record: &UndoRecord) -> StepResult<()> {
        let u = Undo::parse(record)?;
        if let Undo::MoveBack {
            host,
            path,
            aside,
            marker,
            started,
            had_original,
        } = &u
        {
            let stop = cx.layout(*host)?.stop();
            cx.change(*host, Cmd::new(stop)).await?;
            let script = move_back_script(path, aside, marker, started, *had_original);
            let script = files::as_owner_beside(path, &script);
            cx.change(*host, Cmd::new(script)).await?;
            return Ok(());
        }
        revert_common(cx, self.id(), &u).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_progress_lines() {
        assert_eq!(
            progress("  1234/56789 kB (2%), 0/1 tablespace"),
            Some((1234, 56789))
        );
        assert_eq!(
            progress("22990/22990 kB (100%), 1/1 tablespace"),
            Some((22990, 22990))
        );
        assert_eq!(progress("waiting for checkpoint"), None);
        assert_eq!(progress("a/b kB (x"), None);
    }

    #[test]
    fn recovery_conf_quotes_the_conninfo() {
        let r = recovery_conf("host='10.0.0.1' password='it\\'s'");
        assert!(
            r.contains("primary_conninfo = 'host=''10.0.0.1'' password=''it\\\\''s'''"),
            "{r}"
        );
    }

    fn current_user() -> (String, String) {
        let id = |flag: &str| {
            let out = std::process::Command::new("id").arg(flag).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        (id("-un"), id("-gn"))
    }

    /// Runs the real move-aside and move-back scripts on a temp directory.
    struct Dirs {
        _tmp: tempfile::TempDir,
        p: Paths,
    }

    impl Dirs {
        fn new(with_original: bool) -> Dirs {
            let tmp = tempfile::tempdir().unwrap();
            let base = tmp.path().join("main").to_string_lossy().to_string();
            let p = Paths {
                aside: format!("{base}.old"),
                marker: format!("{base}.ours"),
                started: format!("{base}.started"),
                passfile: String::new(),
                // Whoever runs the test: a fresh machine has no postgres account.
                owner: current_user(),
                data: base,
            };
            if with_original {
                std::fs::create_dir(&p.data).unwrap();
                std::fs::write(format!("{}/MARKER", p.data), "mine").unwrap();
            }
            Dirs { _tmp: tmp, p }
        }

        fn move_aside(&self) {
            super::super::run_ok(&move_aside_script(&self.p));
        }

        fn had_original(&self) -> bool {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(had_original_script(&self.p))
                .status()
                .unwrap()
                .success()
        }

        fn move_back(&self, had_original: bool) {
            let p = &self.p;
            super::super::run_ok(&move_back_script(
                &p.data,
                &p.aside,
                &p.marker,
                &p.started,
                had_original,
            ));
        }

        fn copy(&self, name: &str) {
            std::fs::write(format!("{}/{name}", self.p.data), "replica").unwrap();
        }

        fn data_holds(&self, name: &str) -> bool {
            std::path::Path::new(&format!("{}/{name}", self.p.data)).exists()
        }

        fn count(&self, suffix: &str) -> usize {
            let dir = std::path::Path::new(&self.p.data).parent().unwrap();
            std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(suffix))
                .count()
        }
    }

    #[test]
    fn the_original_is_moved_aside_and_comes_back_even_after_retries() {
        let d = Dirs::new(true);
        assert!(d.had_original());
        d.move_aside();
        assert!(!d.data_holds("MARKER") && d.count(".old") == 1);
        d.copy("half");
        // A retry of an unfinished copy starts over; the original stays aside.
        assert!(d.had_original());
        d.move_aside();
        assert!(!d.data_holds("half") && d.count(".old") == 1);
        d.copy("PG_VERSION");
        d.move_back(true);
        assert!(d.data_holds("MARKER"), "original back");
        assert_eq!(d.count(".ours") + d.count(".old") + d.count("discard"), 0);
        // Rolling back twice touches nothing.
        d.move_back(true);
        assert!(d.data_holds("MARKER"));
    }

    #[test]
    fn a_promoted_copy_is_kept_a_standby_copy_is_not() {
        let d = Dirs::new(true);
        d.move_aside();
        d.copy("standby.signal");
        std::fs::write(&d.p.started, "").unwrap();
        d.move_aside();
        assert_eq!(
            d.count("pgrepl-replaced-"),
            0,
            "a copy still in recovery holds nothing new"
        );
        // Promoted: it ran and left recovery, so it may hold writes.
        d.copy("promoted-writes");
        std::fs::write(&d.p.started, "").unwrap();
        d.move_aside();
        assert_eq!(d.count("pgrepl-replaced-"), 1, "the promoted copy is kept");
        d.copy("promoted-again");
        std::fs::write(&d.p.started, "").unwrap();
        d.move_back(true);
        assert!(d.data_holds("MARKER"));
        assert_eq!(
            d.count("pgrepl-replaced-"),
            2,
            "rollback keeps a promoted copy too"
        );
        assert_eq!(d.count("discard"), 0);
    }

    #[test]
    fn a_copy_started_and_promoted_by_hand_is_kept() {
        let d = Dirs::new(true);
        d.move_aside();
        // No `started` marker: someone else started it, then promoted it.
        d.copy("postmaster.opts");
        d.move_aside();
        assert_eq!(d.count("pgrepl-replaced-"), 1, "its writes are kept");
    }

    #[test]
    fn a_rollback_cut_short_anywhere_is_finished_by_the_next() {
        // Cut after the marker went: the original is still aside, nothing of it is lost.
        let d = Dirs::new(true);
        d.move_aside();
        d.copy("PG_VERSION");
        std::fs::rename(&d.p.data, format!("{}.pgrepl-discard", d.p.data)).unwrap();
        std::fs::remove_file(&d.p.marker).unwrap();
        d.move_back(true);
        assert!(d.data_holds("MARKER"));
        assert_eq!(d.count("discard"), 0, "the leftover copy is cleaned up");
        // The next base backup after such a cut keeps the original aside, untouched.
        let d = Dirs::new(true);
        d.move_aside();
        std::fs::remove_dir_all(&d.p.data).unwrap();
        std::fs::remove_file(&d.p.marker).unwrap();
        assert!(d.had_original());
        d.move_aside();
        d.move_back(true);
        assert!(d.data_holds("MARKER"));
    }

    #[test]
    fn a_leftover_marker_never_vouches_for_the_users_directory() {
        // An interrupted rollback that put the original back but left the marker (as the
        // old order could): the next rollback must leave the directory alone.
        let d = Dirs::new(true);
        std::fs::write(&d.p.marker, "").unwrap();
        d.move_back(true);
        assert!(d.data_holds("MARKER"));
    }

    #[test]
    fn without_an_original_the_copy_is_removed_on_rollback() {
        let d = Dirs::new(false);
        assert!(!d.had_original());
        d.move_aside();
        d.copy("PG_VERSION");
        assert!(!d.had_original(), "our own copy is not an original");
        d.move_back(false);
        assert!(!std::path::Path::new(&d.p.data).exists());
        assert_eq!(d.count(".ours"), 0);
    }
}
