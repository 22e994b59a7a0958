//! The local transport: the same scripts run on this machine through `sh`. Used when a
//! host is `localhost`-by-choice and by the runner's own tests.

use async_trait::async_trait;
use tokio::process::Command;

use super::{collect, Finished, LineSink, Remote, RemoteError};

#[derive(Debug, Default, Clone)]
pub struct Local;

#[async_trait]
impl Remote for Local {
    async fn exec(
        &self,
        command_line: &str,
        stdin: Option<&[u8]>,
        sink: &mut dyn LineSink,
    ) -> Result<Finished, RemoteError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command_line)
            .stdin(if stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RemoteError::Io(e.to_string()))?;
        if let (Some(bytes), Some(pipe)) = (stdin, child.stdin.take()) {
            super::feed(pipe, bytes);
        }
        let out = child.stdout.take();
        let err = child.stderr.take();
        let wait = async move {
            child
                .wait()
                .await
                .map(|s| s.code().unwrap_or(-1))
                .map_err(|e| RemoteError::Io(e.to_string()))
        };
        collect(out, err, wait, sink).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Host, Input, Privilege, Stream};
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn streams_lines_status_and_stdin() {
        let mut seen = Vec::new();
        let out = Local
            .exec(
                "printf 'a\\nb\\n'; read x; echo \"got $x\" >&2; printf '10%%\\r20%%\\r'; exit 3",
                Some(b"hello\n"),
                &mut |s: Stream, t: &str| seen.push((s, t.to_string())),
            )
            .await
            .unwrap();
        assert_eq!(out.status, 3);
        assert_eq!(out.stdout, "a\nb\n10%\n20%\n");
        assert!(seen.contains(&(Stream::Stderr, "got hello".into())));
        assert!(
            seen.contains(&(Stream::Stdout, "10%".into())),
            "carriage returns split lines"
        );
    }

    #[tokio::test]
    async fn root_scripts_report_their_pid_and_hide_the_marker() {
        let host = Host::new(Arc::new(Local), Privilege::Root);
        let mut lines = Vec::new();
        let mut pid = None;
        let out = host
            .run_root(
                "echo $$; echo err >&2",
                Input::None,
                &mut |_: Stream, t: &str| lines.push(t.to_string()),
                &mut |p| pid = Some(p),
            )
            .await
            .unwrap();
        let pid = pid.expect("pid reported");
        assert_eq!(out.stdout.trim(), pid.to_string());
        assert_eq!(out.stderr, "err\n");
        assert!(lines.iter().all(|l| !l.contains("pgrepl-pid")));
        let cwd = host
            .run_root(
                "pwd",
                Input::None,
                &mut |_: Stream, _: &str| {},
                &mut |_| {},
            )
            .await
            .unwrap();
        assert_eq!(cwd.stdout, "/\n");
    }

    #[tokio::test]
    async fn a_background_child_that_keeps_stdout_does_not_hang_after_exit() {
        // Daemons started by scripts must not hold the output pipes; this pins down that
        // a script redirecting its daemon's output finishes promptly.
        let out = Local
            .exec(
                "sleep 30 >/dev/null 2>&1 & echo started",
                None,
                &mut |_: Stream, _: &str| {},
            )
            .await
            .unwrap();
        assert_eq!(out.stdout, "started\n");
    }
}
