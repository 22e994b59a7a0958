//! The wizard in a real pseudo-terminal, against a lab of its own (name `tui`, subnet
//! 10.79.0.0/24, so it never meets the other lab tests): start with the lab's config, press
//! A, answer every preview, read `streaming` on the verification card, press q, and find the
//! terminal back on the main screen.
//!
//! The output is parsed into a screen (vt100) and matched there: ratatui only redraws the
//! cells that changed, so the raw byte stream does not hold whole lines.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, Child, CommandBuilder, PtySize};

const BIN: &str = env!("CARGO_BIN_EXE_pgrepl");
const LAB: &str = "tui";
const SUBNET: &str = "10.79.0.0/24";
const PASSWORD: &str = "pty-test-Secret-7";
const ROWS: u16 = 40;
const COLS: u16 = 120;
/// The whole run takes about 10 s on the lab; a loaded CI machine gets plenty more.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// The lab, torn down when the test ends, passed or not.
struct Lab;

impl Lab {
    fn up() -> (Lab, PathBuf) {
        let out = Command::new(BIN)
            .env("PGREPL_LANG", "en")
            .args(["lab", "up", "--name", LAB, "--subnet", SUBNET])
            .output()
            .expect("runs pgrepl lab up");
        let guard = Lab;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "lab up failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("config: "))
            .map(|p| PathBuf::from(p.trim()))
            .expect("lab up names its config");
        (guard, config)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .args(["lab", "down", "--name", LAB])
            .status();
    }
}

/// pgrepl running in a pty; its output is read continuously into a parsed screen.
struct Wizard {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    parser: Arc<Mutex<vt100::Parser>>,
    reader: Option<JoinHandle<()>>,
}

impl Wizard {
    fn start(config: &PathBuf, state_dir: &std::path::Path) -> Wizard {
        let pty = native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("opens a pty");
        let mut cmd = CommandBuilder::new(BIN);
        cmd.arg("--config");
        cmd.arg(config);
        cmd.env("PGREPL_STATE_DIR", state_dir);
        cmd.env("PGREPL_REPLICA_PASSWORD", PASSWORD);
        cmd.env("PGREPL_LANG", "en");
        cmd.env("TERM", "xterm-256color");
        let child = pair.slave.spawn_command(cmd).expect("starts pgrepl");
        // Only the child holds the slave side now, so its exit ends our reads.
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
        let feed = parser.clone();
        let master = pair.master;
        let reader = std::thread::spawn(move || {
            let _keep_open = master;
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Ok(mut p) = feed.lock() {
                            p.process(&buf[..n]);
                        }
                    }
                }
            }
        });
        Wizard {
            child,
            writer,
            parser,
            reader: Some(reader),
        }
    }

    fn screen(&self) -> String {
        self.parser
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }

    fn alternate_screen(&self) -> bool {
        self.parser
            .lock()
            .map(|p| p.screen().alternate_screen())
            .unwrap_or(true)
    }

    fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("writes keys");
        self.writer.flush().expect("flushes keys");
    }

    /// Waits until the screen satisfies `done`; panics with the screen on timeout.
    fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if done(&s) {
                return s;
            }
            if start.elapsed() > limit {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Wizard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}

/// The verification card's line for pg_stat_replication, reading `streaming`.
fn streaming(screen: &str) -> bool {
    screen
        .lines()
        .any(|l| l.contains("pg_stat_replication") && l.contains("streaming") && !l.contains('|'))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn the_wizard_sets_up_replication_in_a_real_terminal() {
    assert!(
        is_root(),
        "the lab tests need root (network namespaces); run the suite as root"
    );
    let (_lab, config) = Lab::up();
    let state = tempfile::tempdir().expect("temp state dir");
    let mut w = Wizard::start(&config, state.path());

    // A complete config opens the form on its Continue button.
    w.wait_for("the pre-filled form", Duration::from_secs(20), |s| {
        s.contains("[ Continue ]") && s.contains("10.79.0.11")
    });
    w.send("A");

    // Every step shows its preview first; answer each one once.
    let start = Instant::now();
    let mut answered: Vec<String> = vec![];
    let last = loop {
        let s = w.screen();
        if streaming(&s) {
            break s;
        }
        assert!(
            !s.contains("failed: see the details"),
            "a step failed; the screen:\n{s}"
        );
        if let Some(title) = s
            .lines()
            .find_map(|l| l.find("Step ").map(|i| l[i..].to_string()))
            .filter(|_| s.contains("y runs it"))
        {
            let title: String = title.chars().take_while(|c| *c != '─').collect();
            if !answered.contains(&title) {
                answered.push(title);
                w.send("y");
            }
        } else if s.contains("Which network may the standby connect from?") {
            w.send("\r");
        }
        assert!(
            start.elapsed() < RUN_LIMIT,
            "no verification card after {RUN_LIMIT:?}; answered {answered:?}; the screen:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        answered.len(),
        6,
        "one preview per step: {answered:?}\n{last}"
    );
    assert!(last.contains("Replication works"), "{last}");
    assert!(
        w.alternate_screen(),
        "the wizard runs on the alternate screen"
    );

    // q quits at once: nothing is running.
    w.send("q");
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(st)) = w.child.try_wait() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "pgrepl did not exit after q; the screen:\n{}",
            w.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
    if let Some(r) = w.reader.take() {
        let _ = r.join();
    }
    assert!(
        !w.alternate_screen(),
        "the terminal is left on the alternate screen:\n{}",
        w.screen()
    );

    // The transcript holds the run, never the password.
    let transcript = std::fs::read_dir(state.path())
        .expect("state dir")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("transcript-"))
        .map(|e| std::fs::read_to_string(e.path()).expect("reads the transcript"))
        .expect("a transcript was written");
    assert!(transcript.contains("==> verify: done"), "{transcript}");
    assert!(!transcript.contains(PASSWORD));
}
