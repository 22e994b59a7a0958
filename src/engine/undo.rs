//! Turning journal records back into the state before. Each undo is safe to run twice and
//! safe to run when the change it undoes never happened.

use super::{Cmd, Cx, Role, StepResult, Undo};
use crate::quote::{sh, sql_ident, sql_literal};
use crate::tr;

pub async fn undo(cx: &Cx, u: &Undo) -> StepResult<()> {
    match u {
        Undo::RestoreFile {
            host,
            path,
            backup,
            sha256,
            written,
        } => {
            let script = restore_file_script(path, backup, sha256, written);
            cx.change(*host, Cmd::new(script)).await?;
        }
        Undo::RemoveFile { host, path } => {
            cx.change(*host, Cmd::new(format!("rm -f {}", sh(path))))
                .await?;
        }
        Undo::MoveBack {
            host,
            path,
            aside,
            marker,
            started,
            had_original,
        } => {
            let stop = cx.layout(*host)?.stop();
            let script = move_back_script(&stop, path, aside, marker, started, *had_original);
            cx.change(*host, Cmd::new(script)).await?;
        }
        Undo::DropRole { name } => {
            let sql = format!("DROP ROLE IF EXISTS {};", sql_ident(name));
            let psql = cx.layout(Role::Primary)?.psql();
            cx.change(Role::Primary, Cmd::sql(psql, &sql)).await?;
        }
        Undo::RestoreRole { name, saved } => {
            let psql = cx.layout(Role::Primary)?.psql();
            let script = format!(
                "if [ -f {s} ]; then {psql} < {s} && rm -f {s}; fi",
                s = sh(saved)
            );
            cx.change(Role::Primary, Cmd::new(script)).await?;
            cx.note(Some(Role::Primary), tr!("note.role_restored", role = name));
        }
        Undo::DropTable { name } => {
            let sql = format!("DROP TABLE IF EXISTS {};", sql_ident(name));
            let psql = cx.layout(Role::Primary)?.psql();
            cx.change(Role::Primary, Cmd::sql(psql, &sql)).await?;
        }
        Undo::Service { host, was_running } => {
            let l = cx.layout(*host)?;
            let script = if *was_running { l.start() } else { l.stop() };
            cx.change(*host, Cmd::new(script)).await?;
        }
        Undo::Restart { host } => {
            let l = cx.layout(*host)?;
            cx.change(
                *host,
                Cmd::new(format!("! {} || {{ {}; }}", l.is_running(), l.restart())),
            )
            .await?;
        }
    }
    Ok(())
}

/// Restores `path` from `backup` and checks the checksum. Edits made after pgrepl wrote the
/// file are not thrown away: such a file is copied next to it first.
pub fn restore_file_script(path: &str, backup: &str, sha256: &str, written: &str) -> String {
    let (p, b) = (sh(path), sh(backup));
    let keep = sh(&format!(
        "{}.before-rollback",
        backup.trim_end_matches(".orig")
    ));
    format!(
        "if [ -e {b} ]; then\n  \
         now=$(sha256sum {p} 2>/dev/null | cut -d' ' -f1)\n  \
         if [ -e {p} ] && [ \"$now\" != {sha} ] && [ \"$now\" != {written} ]; then cp -p {p} {keep} && echo \"{p} was edited after pgrepl wrote it; those edits are kept in {keep}\" || exit 1; fi\n  \
         cp -p {b} {p}.pgrepl-restore && mv -f {p}.pgrepl-restore {p} || exit 1\n  \
         sum=$(sha256sum {p} | cut -d' ' -f1)\n  \
         if [ \"$sum\" = {sha} ]; then rm -f {b}; echo restored {p}; else echo \"checksum mismatch after restoring {p}: $sum\" >&2; exit 1; fi\n\
         else echo no backup at {b}, nothing to restore; fi",
        sha = sh(sha256),
        written = sh(if written.is_empty() { "-" } else { written })
    )
}

/// Removes pgrepl's copy of a data directory at `dir`, except one that has run (`started`
/// exists) and was promoted since (it left recovery: no standby.signal, no recovery.conf):
/// that one may hold writes, so it is kept under a new name.
pub fn dispose_copy_script(dir: &str, started: &str, keep_as: &str) -> String {
    let d = sh(dir);
    let c = if started.is_empty() {
        "/dev/null/none".to_string()
    } else {
        sh(started)
    };
    let keep = format!("{}.pgrepl-replaced-$(date +%s)-$$", sh(keep_as));
    format!(
        "if [ -e {c} ] && [ ! -e {d}/standby.signal ] && [ ! -e {d}/recovery.conf ]; then\n  \
         keep={keep} && mv {d} \"$keep\" && echo \"kept a promoted copy at $keep\" || exit 1\n\
         else\n  rm -rf {d} || exit 1\nfi\nrm -f {c}"
    )
}

/// Puts the old data directory back. The server must be down first. The marker goes
/// before the original comes back, so no interruption can leave a marker that vouches for
/// the user's directory; the copy is disposed of last, also when an earlier, interrupted
/// rollback left it behind.
pub fn move_back_script(
    stop: &str,
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
        "{{ {stop}; }} || exit 1\nif [ -e {a} ]; then\n  \
         if [ -e {p} ]; then\n    \
         if [ -e {m} ]; then mv {p} {discard} || exit 1; else echo \"{p} exists and is not pgrepl's; leaving both\" >&2; exit 1; fi\n  \
         fi\n  rm -f {m} && mv {a} {p} || exit 1\n  echo put back {p}\n\
         {no_original}else\n  rm -f {m}\nfi\n\
         if [ -e {discard} ]; then\n{}\nfi",
        dispose_copy_script(&discard_path, started, path)
    )
}

/// SQL that puts a pre-existing role's flags and password hash back; kept on the host in a
/// 0600 file, never in the journal.
pub fn role_restore_sql(
    name: &str,
    login: bool,
    replication: bool,
    verifier: Option<&str>,
) -> String {
    let mut sql = format!(
        "ALTER ROLE {} WITH {} {}",
        sql_ident(name),
        if login { "LOGIN" } else { "NOLOGIN" },
        if replication {
            "REPLICATION"
        } else {
            "NOREPLICATION"
        }
    );
    match verifier {
        Some(v) => sql.push_str(&format!(" PASSWORD {};\n", sql_literal(v))),
        None => sql.push_str(" PASSWORD NULL;\n"),
    }
    sql
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
    use sha2::Digest;

    fn sha(s: &str) -> String {
        hex::encode(sha2::Sha256::digest(s.as_bytes()))
    }

    fn run(script: &str) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn restoring_keeps_later_edits_in_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pg_hba.conf");
        let backup = dir.path().join("pg_hba.conf.pgrepl-x.orig");
        let kept = dir.path().join("pg_hba.conf.pgrepl-x.before-rollback");
        let (f, b) = (file.to_string_lossy(), backup.to_string_lossy());
        for (now, expect_copy) in [
            ("written by pgrepl\n", false),
            ("edited by the user\n", true),
        ] {
            std::fs::write(&backup, "original\n").unwrap();
            std::fs::write(&file, now).unwrap();
            run(&restore_file_script(
                &f,
                &b,
                &sha("original\n"),
                &sha("written by pgrepl\n"),
            ));
            assert_eq!(std::fs::read_to_string(&file).unwrap(), "original\n");
            assert!(!backup.exists(), "backup removed once restored");
            assert_eq!(kept.exists(), expect_copy);
            if expect_copy {
                assert_eq!(std::fs::read_to_string(&kept).unwrap(), now);
            }
        }
        // Nothing to restore the second time.
        run(&restore_file_script(&f, &b, &sha("original\n"), ""));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "original\n");
    }
}
