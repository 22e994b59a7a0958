//! One engine at a time per journal: two pgrepl runs that both load the journal, change
//! their copy and save it would each drop the other's undo records. The engine holds an
//! exclusive advisory lock (flock) on `journal-<id>.lock` beside the journal for its whole
//! life; the kernel lets go of it when the process ends, however it ends (SIGKILL too), so
//! a killed run never blocks the next one.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use color_eyre::eyre::eyre;

use crate::tr;

/// Held while it lives; dropping it (closing the file) releases the lock.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

pub fn path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("journal-{id}.lock"))
}

impl StateLock {
    /// Takes the lock for journal `id` in `dir`, or says at once who holds it. The file
    /// then names this process (pid and command line) for the next one to report.
    pub fn take(dir: &Path, id: &str) -> color_eyre::Result<StateLock> {
        crate::private::create_dir(dir)?;
        let path = path(dir, id);
        let problem =
            |e: std::io::Error| eyre!(tr!("error.state_lock", path = path.display(), problem = e));
        // Not truncated on open: the holder's line is read before we hold the lock. Rust
        // opens with O_CLOEXEC, so the ssh masters pgrepl starts (which outlive it for a
        // while) never inherit the lock.
        let mut file = crate::private::open(
            &path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
        )
        .map_err(problem)?;
        // SAFETY: flock(2) on a descriptor `file` owns and keeps open for the call.
        let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !taken {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::WouldBlock {
                return Err(problem(e));
            }
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let (pid, command) = holder(&text);
            return Err(eyre!(tr!(
                "error.state_locked",
                pid = pid,
                command = command,
                path = path.display()
            )));
        }
        let line = format!("{} {}\n", std::process::id(), command_line());
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(line.as_bytes()))
            .map_err(problem)?;
        Ok(StateLock { _file: file })
    }
}

/// The pid and command line a lock file names; `?` for a holder that has not written
/// them yet (it took the lock a moment ago).
fn holder(text: &str) -> (String, String) {
    let line = text.lines().next().unwrap_or_default().trim();
    match line.split_once(' ') {
        Some((pid, cmd)) if pid.parse::<u32>().is_ok() => (pid.to_string(), cmd.to_string()),
        _ => ("?".to_string(), "?".to_string()),
    }
}

/// How this process was started, on one line, for a second run's error (and the hosts'
/// lock): `pgrepl apply --config lab.toml --yes`.
pub fn command_line() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .map(|p| {
            Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or(p)
        })
        .unwrap_or_else(|| "pgrepl".to_string());
    let line = std::iter::once(program)
        .chain(args.map(|a| crate::quote::sh(&a)))
        .collect::<Vec<_>>()
        .join(" ");
    // Quoting keeps a newline in an argument; a one-line record must not.
    line.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_with_the_holder_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::take(dir.path(), "abcd1234").unwrap();
        let written = std::fs::read_to_string(path(dir.path(), "abcd1234")).unwrap();
        assert!(
            written.starts_with(&format!("{} ", std::process::id())),
            "{written}"
        );
        // A second open file description conflicts even within one process, as a second
        // pgrepl's would.
        let e = StateLock::take(dir.path(), "abcd1234")
            .unwrap_err()
            .to_string();
        assert!(e.contains(&std::process::id().to_string()), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
        // Another setup's journal is another lock.
        let _other = StateLock::take(dir.path(), "ffff0000").unwrap();
        drop(first);
        let _again = StateLock::take(dir.path(), "abcd1234").unwrap();
    }

    #[test]
    fn a_holder_that_has_not_written_yet_reads_as_unknown() {
        assert_eq!(holder(""), ("?".to_string(), "?".to_string()));
        assert_eq!(
            holder("42 pgrepl apply --yes\n"),
            ("42".to_string(), "pgrepl apply --yes".to_string())
        );
    }
}
