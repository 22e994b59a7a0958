//! Plain-text rendering of engine events: the headless commands print it, and every view
//! appends it to the transcript file.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::engine::{Event, Role};
use crate::remote::Stream;
use crate::tr;

fn tag(host: Option<Role>) -> String {
    match host {
        Some(r) => format!("[{r}]"),
        None => "[pgrepl]".to_string(),
    }
}

/// Lines to print for one event; empty for events that only a TUI shows.
pub fn lines(e: &Event) -> Vec<String> {
    match e {
        Event::State { step, state } => vec![format!("==> {step}: {}", tr!(state.key()))],
        Event::Planned { host, command, .. } | Event::CommandStarted { host, command, .. } => {
            command
                .lines()
                .enumerate()
                .map(|(i, l)| {
                    format!(
                        "{} {} {l}",
                        tag(Some(*host)),
                        if i == 0 { "$" } else { ">" }
                    )
                })
                .collect()
        }
        Event::Line {
            host, stream, text, ..
        } => vec![match stream {
            Stream::Stdout => format!("{} {text}", tag(Some(*host))),
            Stream::Stderr => format!("{} ! {text}", tag(Some(*host))),
        }],
        Event::Progress { .. } => vec![],
        Event::CommandFinished {
            host,
            status,
            elapsed,
            ..
        } => {
            if *status == 0 {
                vec![]
            } else {
                vec![format!(
                    "{} {}",
                    tag(Some(*host)),
                    tr!(
                        "report.exit",
                        status = status,
                        secs = format!("{:.2}", elapsed.as_secs_f64())
                    )
                )]
            }
        }
        Event::Note { host, text, .. } => vec![format!("{} {text}", tag(*host))],
        Event::Failed { step, error, hint } => {
            let mut v = vec![tr!("report.failed", step = step, error = error)];
            if let Some(h) = hint {
                v.push(tr!("report.hint", hint = h));
            }
            v
        }
        Event::Verified(r) => {
            let mut v = vec![format!(
                "{} {}",
                tag(Some(r.host)),
                tr!(
                    "report.verified",
                    walsender = r.walsender,
                    walreceiver = r.walreceiver,
                    state = r.replication_state.clone().unwrap_or_else(|| "-".into()),
                    recovery = r.standby_in_recovery,
                    canary = r
                        .canary_ms
                        .map(|m| format!("{m} ms"))
                        .unwrap_or_else(|| "-".into()),
                    lag = r
                        .lag_bytes
                        .map(|b| format!("{b} B"))
                        .unwrap_or_else(|| "-".into()),
                    login = r
                        .stored_login
                        .map(|ok| ok.to_string())
                        .unwrap_or_else(|| "-".into())
                )
            )];
            if let Some(e) = &r.error {
                v.push(tr!("report.failed", step = "verify", error = e));
            }
            v
        }
        // The error that follows says it all, fingerprints included.
        Event::UnknownHostKey { .. } | Event::KeysRefused { .. } => vec![],
        Event::Paused => vec![tr!("report.paused")],
        Event::Resumed => vec![tr!("report.resumed")],
    }
}

const MAX_TRANSCRIPT: u64 = 8 * 1024 * 1024;

/// Appends every event to `transcript-<id>.log` in the state directory.
pub struct Transcript(Option<std::fs::File>);

impl Transcript {
    pub fn open(dir: &Path, id: &str) -> Transcript {
        let _ = crate::private::create_dir(dir);
        let path = dir.join(format!("transcript-{id}.log"));
        // One earlier generation is kept; the transcript does not grow without bound.
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_TRANSCRIPT) {
            let old = path.with_extension("log.1");
            if std::fs::rename(&path, &old).is_ok() {
                // An older pgrepl may have written it readable by all.
                let _ = std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o600));
            }
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        Transcript(crate::private::open(&path, &mut options).ok())
    }

    pub fn write(&mut self, e: &Event) {
        if let Some(f) = &mut self.0 {
            for l in lines(e) {
                let _ = writeln!(f, "{l}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_transcript_is_rotated_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transcript-x.log");
        std::fs::write(&path, vec![b'a'; MAX_TRANSCRIPT as usize + 1]).unwrap();
        let mut t = Transcript::open(dir.path(), "x");
        t.write(&Event::Paused);
        assert!(std::fs::metadata(&path).unwrap().len() < 1024);
        assert!(dir.path().join("transcript-x.log.1").exists());
    }

    #[test]
    fn only_its_owner_can_read_it_even_one_written_before() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("state");
        Transcript::open(&dir, "new").write(&Event::Paused);
        assert_eq!(crate::private::mode(&dir), 0o700);
        assert_eq!(crate::private::mode(&dir.join("transcript-new.log")), 0o600);

        let old = dir.join("transcript-old.log");
        let big = dir.join("transcript-big.log");
        std::fs::write(&old, "earlier\n").unwrap();
        std::fs::write(&big, vec![b'a'; MAX_TRANSCRIPT as usize + 1]).unwrap();
        for f in [&old, &big] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        Transcript::open(&dir, "old").write(&Event::Paused);
        Transcript::open(&dir, "big").write(&Event::Paused);
        assert_eq!(crate::private::mode(&old), 0o600);
        assert!(std::fs::read_to_string(&old)
            .unwrap()
            .starts_with("earlier\n"));
        assert_eq!(crate::private::mode(&big), 0o600);
        assert_eq!(crate::private::mode(&big.with_extension("log.1")), 0o600);
    }
}
