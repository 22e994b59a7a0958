//! Editing a config file on a host: read it, back it up once, record how to restore it,
//! then replace it atomically with the same owner and mode.

use super::undo::{remember, Undo};
use crate::engine::{Cmd, Cx, Role, StepError, StepResult};
use crate::quote::sh;
use crate::tr;

/// Runs `script` as the account that owns `dir` (root stays root). Root never works in a
/// directory another account controls: a symlink planted there by the postgres account
/// would turn a root write into a write anywhere (the class of CVE-2019-3466); as that
/// account, following it gains nothing. Stdin passes through.
pub fn as_owner_of(dir: &str, script: &str) -> String {
    format!(
        "o=$(stat -c %U {d}) || exit 1\n\
         if [ \"$o\" = root ] || [ \"$o\" = \"$(id -un)\" ]; then sh -c {s}; else runuser -u \"$o\" -- sh -c {s}; fi",
        d = sh(dir),
        s = sh(script)
    )
}

/// Runs `script` as the owner of the directory holding `path` (see [`as_owner_of`]).
pub fn as_owner_beside(path: &str, script: &str) -> String {
    as_owner_of(&dir_of(path), script)
}

/// Writes stdin to `path`, readable by its owner only (mktemp makes 0600), through a
/// temporary file renamed over it, as the owner of its directory. With `keep_existing`,
/// a file already there is left as it is.
pub fn write_private_script(path: &str, keep_existing: bool) -> String {
    let p = sh(path);
    let write = format!(
        "umask 077; tmp=$(mktemp {p}.XXXXXX) || exit 1; cat > \"$tmp\" && mv -f \"$tmp\" {p} || {{ rm -f \"$tmp\"; exit 1; }}"
    );
    let script = if keep_existing {
        format!("[ -e {p} ] || ( {write} )")
    } else {
        write
    };
    as_owner_beside(path, &script)
}

/// The directory holding `path`.
fn dir_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) => "/".to_string(),
        Some((d, _)) => d.to_string(),
        None => ".".to_string(),
    }
}

pub fn backup_path(cx: &Cx, path: &str) -> String {
    format!("{path}.pgrepl-{}.orig", cx.journal_id())
}

const PRESENT: &str = "--pgrepl-file-present--";
const ABSENT: &str = "--pgrepl-file-absent--";
const END: &str = "--pgrepl-file-end--";

/// The file's text, or None if it does not exist. The bytes travel as base64 between marker
/// lines, so whatever else a login shell prints cannot be mistaken for content, and the
/// text is exactly what the file holds.
pub async fn read(cx: &Cx, r: Role, path: &str) -> StepResult<Option<String>> {
    let p = sh(path);
    let done = cx
        .must(
            r,
            Cmd::new(as_owner_beside(path, &format!(
                "if [ -e {p} ]; then echo {PRESENT}; base64 < {p} || exit 1; echo {END}; else echo {ABSENT}; fi"
            )))
            .quiet()
            .reads(),
        )
        .await?;
    // A dry run for a host not reached yet: no file to show.
    if cx.is_dry() && !done.ok() {
        return Ok(None);
    }
    parse_read(&done.stdout)
        .map_err(|problem| StepError::new(tr!("error.read_file", path = path, problem = problem)))
}

fn parse_read(stdout: &str) -> Result<Option<String>, String> {
    let mut lines = stdout.lines().skip_while(|l| *l != PRESENT && *l != ABSENT);
    match lines.next() {
        Some(ABSENT) => Ok(None),
        Some(_) => {
            // Without the end marker the output was cut short: a shorter file is not the file.
            let mut encoded = String::new();
            let mut ended = false;
            for l in lines {
                if l == END {
                    ended = true;
                    break;
                }
                encoded.push_str(l);
            }
            if !ended {
                return Err("the output was cut short".to_string());
            }
            let bytes =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded.trim())
                    .map_err(|e| e.to_string())?;
            String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| "not UTF-8 text".to_string())
        }
        None => Err("no answer".to_string()),
    }
}

/// The script that writes stdin to `path` (keeping owner and mode when it exists, else
/// `owner`/`mode`), backing the original up first.
/// Replaces the file at `path` (its target, when it is a symlink: a link stays a link)
/// with stdin: through a fresh temporary file (mktemp: a random name, created exclusively)
/// beside it, with the original's mode (and owner, as root), flushed, then renamed over it.
/// Runs as the owner of the file's directory (see [`as_owner_of`]).
pub fn write_script(path: &str, backup: &str, owner: &str, mode: &str) -> String {
    let (p, b) = (sh(path), sh(backup));
    let inner = format!(
        "umask 077\nt=$(readlink -f {p}) && [ -n \"$t\" ] || exit 1\n\
         tmp=$(mktemp \"$t.pgrepl-XXXXXX\") || exit 1\n\
         if [ -e \"$t\" ]; then\n  [ -e {b} ] || cp -p \"$t\" {b} || {{ rm -f \"$tmp\"; exit 1; }}\n  \
         cat > \"$tmp\" && chmod --reference=\"$t\" \"$tmp\" && {{ [ \"$(id -u)\" != 0 ] || chown --reference=\"$t\" \"$tmp\"; }} || {{ rm -f \"$tmp\"; exit 1; }}\n\
         else\n  \
         cat > \"$tmp\" && chmod {mode} \"$tmp\" && {{ [ \"$(id -u)\" != 0 ] || chown {owner} \"$tmp\"; }} || {{ rm -f \"$tmp\"; exit 1; }}\nfi\n\
         sync \"$tmp\" 2>/dev/null\nmv -f \"$tmp\" \"$t\""
    );
    as_owner_beside(path, &inner)
}

/// Writes `new` to `path` when it differs from what is there. Returns whether it changed.
/// The undo is recorded before anything is touched.
pub async fn write(
    cx: &Cx,
    r: Role,
    path: &str,
    new: &str,
    owner: &str,
    mode: &str,
) -> StepResult<bool> {
    let current = read(cx, r, path).await?;
    if current.as_deref() == Some(new) {
        return Ok(false);
    }
    let backup = backup_path(cx, path);
    match current {
        // A dry run records no undo, so it needs no checksum.
        _ if cx.is_dry() => {}
        Some(_) => {
            // The original's checksum: from the backup if an earlier run already made one.
            let (p, b) = (sh(path), sh(&backup));
            let sum = cx
                .must(
                    r,
                    Cmd::new(as_owner_beside(
                        path,
                        &format!("if [ -e {b} ]; then sha256sum {b}; else sha256sum {p}; fi"),
                    ))
                    .reads()
                    .quiet(),
                )
                .await?;
            let sha256 = sum
                .stdout
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            if sha256.len() != 64 {
                return Err(StepError::new(tr!("error.checksum", path = path)));
            }
            let written = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(new.as_bytes()));
            remember(
                cx,
                Undo::RestoreFile {
                    host: r,
                    path: path.to_string(),
                    backup,
                    sha256,
                    written,
                },
            )?;
        }
        None => remember(
            cx,
            Undo::RemoveFile {
                host: r,
                path: path.to_string(),
            },
        )?,
    }
    cx.change(
        r,
        Cmd::new(write_script(path, &backup_path(cx, path), owner, mode))
            .stdin(new)
            .changes(diff_lines(current.as_deref().unwrap_or(""), new)),
    )
    .await?;
    Ok(true)
}

/// The lines `new` adds to `old` (`+ `) and takes away (`- `), in file order: what a
/// reader checks before agreeing to a write. Unchanged lines are left out.
pub fn diff_lines(old: &str, new: &str) -> String {
    fn minus<'a>(a: &'a str, b: &str) -> Vec<&'a str> {
        let mut left: Vec<&str> = b.lines().collect();
        a.lines()
            .filter(|l| match left.iter().position(|x| x == l) {
                Some(i) => {
                    left.remove(i);
                    false
                }
                None => true,
            })
            .collect()
    }
    let mut out = String::new();
    for l in minus(old, new) {
        out.push_str(&format!("- {l}\n"));
    }
    for l in minus(new, old) {
        out.push_str(&format!("+ {l}\n"));
    }
    out
}

/// Restores `path` from `backup` and checks the checksum. Edits made after pgrepl wrote the
/// file are not thrown away: such a file is copied next to it first.
pub fn restore_file_script(path: &str, backup: &str, sha256: &str, written: &str) -> String {
    let (p, b) = (sh(path), sh(backup));
    let keep = sh(&format!(
        "{}.before-rollback",
        backup.trim_end_matches(".orig")
    ));
    let inner = format!(
        "if [ -e {b} ]; then\n  \
         t=$(readlink -f {p}) && [ -n \"$t\" ] || exit 1\n  \
         now=$(sha256sum \"$t\" 2>/dev/null | cut -d' ' -f1)\n  \
         if [ -e \"$t\" ] && [ \"$now\" != {sha} ] && [ \"$now\" != {written} ]; then cp -p \"$t\" {keep} && echo \"{p} was edited after pgrepl wrote it; those edits are kept in {keep}\" || exit 1; fi\n  \
         tmp=$(mktemp \"$t.pgrepl-XXXXXX\") || exit 1\n  \
         cp -p {b} \"$tmp\" && {{ sync \"$tmp\" 2>/dev/null; :; }} && mv -f \"$tmp\" \"$t\" || {{ rm -f \"$tmp\"; exit 1; }}\n  \
         sum=$(sha256sum \"$t\" | cut -d' ' -f1)\n  \
         if [ \"$sum\" = {sha} ]; then rm -f {b}; echo restored {p}; else echo \"checksum mismatch after restoring {p}: $sum\" >&2; exit 1; fi\n\
         else echo no backup at {b}, nothing to restore; fi",
        sha = sh(sha256),
        written = sh(if written.is_empty() { "-" } else { written })
    );
    as_owner_beside(path, &inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn reads_through_login_noise_and_keeps_bytes() {
        let out = format!(
            "Welcome!\npresent\n{PRESENT}\naG9zdCBhbGwgYWxsIDAuMC4wLjAvMCBtZDUNCg==\n{END}\n"
        );
        assert_eq!(
            parse_read(&out).unwrap().as_deref(),
            Some("host all all 0.0.0.0/0 md5\r\n")
        );
        assert_eq!(parse_read(&format!("motd\n{ABSENT}\n")).unwrap(), None);
        assert!(parse_read("motd only\n").is_err());
        let cut = format!("{PRESENT}\naG9zdCBhbGwgYWxsIDAuMC4wLjAvMCBtZDUNCg==\n");
        assert!(
            parse_read(&cut).is_err(),
            "output without the end marker is refused"
        );
        let not_utf8 = format!("{PRESENT}\n/w==\n{END}\n");
        assert!(parse_read(&not_utf8).is_err());
    }

    fn sha256_of(s: &str) -> String {
        hex::encode(sha2::Sha256::digest(s.as_bytes()))
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
            super::super::run_ok(&restore_file_script(
                &f,
                &b,
                &sha256_of("original\n"),
                &sha256_of("written by pgrepl\n"),
            ));
            assert_eq!(std::fs::read_to_string(&file).unwrap(), "original\n");
            assert!(!backup.exists(), "backup removed once restored");
            assert_eq!(kept.exists(), expect_copy);
            if expect_copy {
                assert_eq!(std::fs::read_to_string(&kept).unwrap(), now);
            }
        }
        // Nothing to restore the second time.
        super::super::run_ok(&restore_file_script(&f, &b, &sha256_of("original\n"), ""));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "original\n");
    }
}
