//! One pgrepl at a time on a host, whichever machine and state directory it runs from:
//! `hosts` takes a lock on every host it connects to and lets go of it when the engine
//! closes. The lock is a directory root creates in /run (root-owned, so no other account
//! can plant or remove it; a tmpfs, so a reboot clears it) holding a file that names its
//! holder. A lock whose holder is a pgrepl of this very machine that is no longer alive
//! (killed, crashed) is taken over; any other is left alone and the run refused, saying
//! who holds it and how to clear it.

use crate::engine::{Cmd, Cx, Role, StepError, StepResult};
use crate::quote::sh;
use crate::tr;

pub const LOCK_PATH: &str = "/run/pgrepl.lock";

/// How long releasing may take on a host before the engine closes anyway.
const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Who holds a host: one engine of one pgrepl process on one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// /etc/machine-id of the machine pgrepl runs on (empty where there is none).
    pub machine: String,
    /// `user@hostname` there.
    pub who: String,
    pub pid: u32,
    /// When the engine started, UTC.
    pub started: String,
    pub command: String,
    /// Random, one per engine: what a release and a takeover compare, so that neither
    /// ever touches a lock someone else took meanwhile.
    pub token: String,
}

impl Holder {
    /// This process's engine.
    pub fn this_run() -> Holder {
        Holder {
            machine: machine_id(),
            who: format!("{}@{}", user(), hostname()),
            pid: std::process::id(),
            started: utc(std::time::SystemTime::now()),
            command: crate::engine::command_line(),
            token: token(),
        }
    }

    /// The holder file's text: one `key=value` per line.
    pub fn text(&self) -> String {
        [
            ("machine", &self.machine),
            ("who", &self.who),
            ("pid", &self.pid.to_string()),
            ("started", &self.started),
            ("command", &self.command),
            ("token", &self.token),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}\n", one_line(v)))
        .collect()
    }

    /// A holder file as a host returned it; None when it names no pid or token (another
    /// program's file, or a lock whose holder is writing it right now).
    pub fn parse(text: &str) -> Option<Holder> {
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(|v| v.trim().to_string())
        };
        let token = field("token").filter(|t| is_token(t))?;
        Some(Holder {
            machine: field("machine").unwrap_or_default(),
            who: field("who").unwrap_or_default(),
            pid: field("pid")?.parse().ok()?,
            started: field("started").unwrap_or_default(),
            command: field("command").unwrap_or_default(),
            token,
        })
    }

    /// Whether `other` is a pgrepl of this machine that no longer runs, or this very
    /// process (an earlier engine of the wizard): its lock is ours to take over. A pgrepl
    /// of another machine may be alive for all we can tell from here.
    pub fn may_take_over(&self, other: &Holder) -> bool {
        let host = |who: &str| who.rsplit('@').next().unwrap_or_default().to_string();
        let same_machine = other.machine == self.machine && host(&other.who) == host(&self.who);
        same_machine && (other.pid == self.pid || !alive(other.pid))
    }

    /// For messages: `pid 1234 (pgrepl apply ...) on root@ctl since 2024-05-01 10:00:00 UTC`.
    pub fn describe(&self) -> String {
        tr!(
            "note.lock_holder",
            pid = self.pid,
            command = self.command,
            who = self.who,
            started = self.started
        )
    }
}

/// The script that takes the lock at `lock` for `me`, whose holder file it reads on stdin
/// ([`Holder::text`]): it prints `taken`, or `held` and the holder file. With `stale`, the
/// token of a holder found dead, it takes that holder's lock over; of several runs doing
/// so at once, the one whose `mkdir` of the marker succeeds wins and the others find the
/// winner's token. Exit status 0 either way; not 0 on a real error.
pub fn take_script(lock: &str, me: &Holder, stale: Option<&str>) -> String {
    format!(
        "umask 077; lock={lock}; mine={mine}; stale={stale}; holder=$(cat)\n\
         [ -d \"${{lock%/*}}\" ] || {{ echo \"no directory ${{lock%/*}} on this host\" >&2; exit 1; }}\n\
         token_of() {{ sed -n 's/^token=//p' \"$1/holder\" 2>/dev/null; }}\n\
         write() {{ printf '%s\\n' \"$holder\" > \"$1/holder.new\" && mv -f \"$1/holder.new\" \"$1/holder\" && echo taken; }}\n\
         if mkdir -m 0700 \"$lock\" 2>/dev/null; then write \"$lock\" || {{ rm -rf \"$lock\"; exit 1; }}\n\
         elif [ \"$(token_of \"$lock\")\" = \"$mine\" ]; then echo taken\n\
         elif [ -n \"$stale\" ] && cd \"$lock\" 2>/dev/null && mkdir \"over-$stale\" 2>/dev/null && [ \"$(token_of .)\" = \"$stale\" ]; then write . || exit 1\n\
         else echo held; cat \"$lock/holder\" 2>/dev/null; true; fi",
        lock = sh(lock),
        mine = sh(&me.token),
        stale = sh(stale.unwrap_or_default()),
    )
}

/// The script that removes the lock at `lock` if `me` still holds it, and nothing else.
pub fn release_script(lock: &str, me: &Holder) -> String {
    format!(
        "lock={lock}; mine={mine}\n\
         if [ \"$(sed -n 's/^token=//p' \"$lock/holder\" 2>/dev/null)\" = \"$mine\" ]; then rm -rf \"$lock\"; fi",
        lock = sh(lock),
        mine = sh(&me.token),
    )
}

/// What a take script answered.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Taken,
    /// Held by this holder (None: one that names none we can read).
    Held(Option<Holder>),
}

fn verdict(stdout: &str) -> Option<Verdict> {
    let (first, rest) = stdout.split_once('\n').unwrap_or((stdout, ""));
    match first.trim() {
        "taken" => Some(Verdict::Taken),
        "held" => Some(Verdict::Held(Holder::parse(rest))),
        _ => None,
    }
}

/// Takes the lock on every host, the primary first and one after another, so that of two
/// runs reaching for the same hosts one gets them all and the other stops at the first.
pub async fn take_all(cx: &Cx, me: &Holder) -> StepResult<()> {
    for r in cx.setup.roles() {
        take(cx, r, me).await?;
    }
    Ok(())
}

async fn take(cx: &Cx, r: Role, me: &Holder) -> StepResult<()> {
    let held = match ask(cx, r, me, None).await? {
        Verdict::Taken => return Ok(()),
        Verdict::Held(h) => h,
    };
    let Some(stale) = held.clone().filter(|h| me.may_take_over(h)) else {
        return Err(refused(cx, r, held));
    };
    match ask(cx, r, me, Some(&stale.token)).await? {
        Verdict::Taken => {
            cx.note(
                Some(r),
                tr!("note.lock_taken_over", holder = stale.describe()),
            );
            Ok(())
        }
        Verdict::Held(h) => Err(refused(cx, r, h)),
    }
}

/// The take command as it runs and as the preview shows it.
fn take_cmd<'a>(me: &Holder, text: &'a str, stale: Option<&str>) -> Cmd<'a> {
    Cmd::new(take_script(LOCK_PATH, me, stale)).stdin(text)
}

async fn ask(cx: &Cx, r: Role, me: &Holder, stale: Option<&str>) -> StepResult<Verdict> {
    let text = me.text();
    let done = cx.change(r, take_cmd(me, &text, stale)).await?;
    verdict(&done.stdout).ok_or_else(|| {
        StepError::new(tr!(
            "error.lock_answer",
            host = r,
            answer = done.stdout.trim()
        ))
    })
}

fn refused(cx: &Cx, r: Role, holder: Option<Holder>) -> StepError {
    let address = cx.setup.target(r).label();
    let holder = holder
        .map(|h| h.describe())
        .unwrap_or_else(|| tr!("note.lock_holder_unknown"));
    StepError::new(tr!(
        "error.host_locked",
        host = r,
        address = address,
        holder = holder
    ))
    .hint(tr!(
        "hint.host_locked",
        host = r,
        address = address,
        command = format!("rm -r {LOCK_PATH}")
    ))
}

/// Releases the lock on every host `me` still holds it on, all at once; errors (a host
/// gone meanwhile) are left for the next run, which takes a dead run's lock over.
pub async fn release_all(cx: &Cx, me: &Holder) {
    let script = release_script(LOCK_PATH, me);
    let release = |r: Role| {
        let script = script.clone();
        async move {
            let run = cx.run(r, Cmd::new(script).quiet());
            let _ = tokio::time::timeout(RELEASE_WAIT, run).await;
        }
    };
    let roles: Vec<Role> = cx
        .setup
        .roles()
        .into_iter()
        .filter(|r| cx.host(*r).is_ok())
        .collect();
    futures::future::join_all(roles.into_iter().map(release)).await;
}

/// What the preview of `hosts` shows on each host for the lock.
pub fn preview(me: &Holder) -> Vec<String> {
    vec![
        take_cmd(me, &me.text(), None).display(),
        format!("# {}", tr!("note.lock_released", path = LOCK_PATH)),
    ]
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// True while a process `pid` runs here (one of another user's counts: EPERM). A zombie
/// does not: a pgrepl killed under a parent that has not reaped it yet is gone.
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    if pid <= 0 {
        return true;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is delivered.
    let r = unsafe { libc::kill(pid, 0) };
    let exists = r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !zombie(pid)
}

/// Linux: the state letter in /proc/PID/stat, after the command name in parentheses.
fn zombie(pid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn machine_id() -> String {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer we own.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "?".to_string();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).to_string()
}

/// The login name: $USER, else the password file's name for our uid (services and
/// containers often run without $USER), else the uid.
fn user() -> String {
    if let Ok(u) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        return u;
    }
    // SAFETY: getuid cannot fail and touches no memory of ours.
    let uid = unsafe { libc::getuid() }.to_string();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// 16 random hex digits; the pid and the time if the system has no randomness to give.
fn token() -> String {
    let mut raw = [0u8; 8];
    if getrandom::fill(&mut raw).is_ok() {
        return hex::encode(raw);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    format!("{:08x}{:08x}", std::process::id(), nanos as u32)
}

/// `2024-05-01 10:00:00 UTC`.
fn utc(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm), for days since 1970 only.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(machine: &str, who: &str, pid: u32, token: &str) -> Holder {
        Holder {
            machine: machine.into(),
            who: who.into(),
            pid,
            started: "2024-05-01 10:00:00 UTC".into(),
            command: "pgrepl apply --config 'a b.toml' --yes".into(),
            token: token.into(),
        }
    }

    /// A pid no process has: a child that has ended and been reaped.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    fn run(script: &str, stdin: &str) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh runs");
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(stdin.as_bytes()).expect("stdin written");
        drop(pipe);
        let out = child.wait_with_output().expect("sh ends");
        assert!(
            out.status.success(),
            "{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn take(lock: &str, me: &Holder, stale: Option<&str>) -> Verdict {
        verdict(&run(&take_script(lock, me, stale), &me.text())).unwrap()
    }

    fn release(lock: &str, me: &Holder) {
        run(&release_script(lock, me), "");
    }

    #[test]
    fn the_holder_survives_the_trip_through_the_file() {
        let h = holder("m1", "root@ctl", 42, "00ff");
        assert_eq!(Holder::parse(&h.text()), Some(h.clone()));
        let mut odd = h.clone();
        odd.command = "pgrepl apply --config 'a\nb'".into();
        let back = Holder::parse(&odd.text()).unwrap();
        assert_eq!(back.command, "pgrepl apply --config 'a?b'", "one line");
        assert_eq!(Holder::parse("pid=1\n"), None, "no token");
        assert_eq!(Holder::parse("pid=1\ntoken=$(reboot)\n"), None);
        assert_eq!(Holder::parse(""), None);
    }

    #[test]
    fn only_a_dead_pgrepl_of_this_machine_or_this_process_is_taken_over() {
        let me = Holder::this_run();
        let mine = |pid: u32| Holder {
            pid,
            token: "aa".into(),
            ..me.clone()
        };
        assert!(me.may_take_over(&mine(dead_pid())), "killed here");
        assert!(me.may_take_over(&mine(std::process::id())), "this process");
        // pid 1 is alive on every machine.
        assert!(!me.may_take_over(&mine(1)), "alive here");
        let mut unreaped = std::process::Command::new("true").spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            me.may_take_over(&mine(unreaped.id())),
            "killed, not yet reaped"
        );
        unreaped.wait().unwrap();
        let elsewhere = Holder {
            machine: format!("{}x", me.machine),
            ..mine(dead_pid())
        };
        assert!(!me.may_take_over(&elsewhere), "another machine");
        let other_name = Holder {
            who: "root@somewhere-else".into(),
            ..mine(dead_pid())
        };
        assert!(
            !me.may_take_over(&other_name),
            "a clone with our machine id"
        );
    }

    #[test]
    fn the_first_takes_a_second_finds_it_held_and_only_the_holder_releases() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("pgrepl.lock").display().to_string();
        let a = holder("m1", "root@ctl", 100, "aaaa");
        let b = holder("m2", "admin@other", 200, "bbbb");
        assert_eq!(take(&lock, &a, None), Verdict::Taken);
        assert_eq!(
            take(&lock, &a, None),
            Verdict::Taken,
            "taken again by its holder (a reconnect)"
        );
        assert_eq!(take(&lock, &b, None), Verdict::Held(Some(a.clone())));
        release(&lock, &b);
        assert!(std::path::Path::new(&lock).exists(), "released by another");
        release(&lock, &a);
        assert!(!std::path::Path::new(&lock).exists());
        release(&lock, &a);
        assert_eq!(take(&lock, &b, None), Verdict::Taken);
    }

    #[test]
    fn a_stale_lock_is_taken_over_once_and_never_from_a_newer_holder() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("pgrepl.lock").display().to_string();
        let dead = holder("m1", "root@ctl", 100, "dead");
        let b = holder("m1", "root@ctl", 200, "bbbb");
        let c = holder("m1", "root@ctl", 300, "cccc");
        assert_eq!(take(&lock, &dead, None), Verdict::Taken);
        // b and c both found `dead` dead; b comes first.
        assert_eq!(take(&lock, &b, Some("dead")), Verdict::Taken);
        assert_eq!(
            take(&lock, &c, Some("dead")),
            Verdict::Held(Some(b.clone())),
            "the lock is b's now, not dead's"
        );
        release(&lock, &dead);
        assert!(std::path::Path::new(&lock).exists(), "dead's release");
        release(&lock, &b);
        assert!(!std::path::Path::new(&lock).exists(), "markers go with it");
    }

    #[test]
    fn a_lock_without_a_holder_file_reads_as_held_by_someone_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("pgrepl.lock");
        std::fs::create_dir(&lock).unwrap();
        let lock = lock.display().to_string();
        let me = holder("m1", "root@ctl", 1, "aaaa");
        assert_eq!(take(&lock, &me, None), Verdict::Held(None));
        assert_eq!(take(&lock, &me, Some("aaaa")), Verdict::Held(None));
    }

    #[test]
    fn no_parent_directory_is_an_error_not_a_holder() {
        let me = holder("m1", "root@ctl", 1, "aaaa");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(take_script("/nonexistent-pgrepl/pgrepl.lock", &me, None))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success());
    }

    #[test]
    fn utc_dates() {
        let at = |s: u64| utc(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(at(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(at(1_714_557_600), "2024-05-01 10:00:00 UTC");
    }
}
