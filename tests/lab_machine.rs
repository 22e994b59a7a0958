//! The lab on the machines newcomers have: a container whose filesystem is overlayfs, any
//! locale, and nothing left behind afterwards (namespaces, links, mounts, processes, SSH
//! masters and their control folders).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_ok, assert_streams, text, Lab};

const NAME: &str = "ctr";
const PREFIX: &str = "10.77.9";

fn run(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// pgrep run directly (not through sh, whose command line would match too).
fn pgrep(pattern: &str) -> String {
    let out = Command::new("pgrep").args(["-af", pattern]).output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default()
}

/// Everything of the lab the kernel or the file system still holds.
fn leftovers(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy();
    let mut found = vec![];
    for ns in run("ls /run/netns 2>/dev/null").lines() {
        if ns.starts_with(&format!("pgrepl-{NAME}-")) {
            found.push(format!("netns {ns}"));
        }
    }
    for link in run("ls /sys/class/net").lines() {
        if link.starts_with(&format!("pl-{NAME}")) {
            found.push(format!("link {link}"));
        }
    }
    for m in run("awk '{print $5}' /proc/self/mountinfo").lines() {
        if m.starts_with(d.as_ref()) {
            found.push(format!("mount {m}"));
        }
    }
    for p in pgrep(&d).lines() {
        found.push(format!("process {p}"));
    }
    // SSH masters to this lab's hosts (other labs may be in use meanwhile), and the
    // control folders of pgrepl runs that have ended.
    for p in pgrep(&format!(
        "ssh.*pgrepl-ssh-.* {}\\.",
        PREFIX.replace('.', "\\.")
    ))
    .lines()
    {
        found.push(format!("ssh master {p}"));
    }
    for base in control_bases() {
        for e in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("pgrepl-ssh-") || name.starts_with(".ssh-connection") {
                found.push(format!("ssh folder {}", e.path().display()));
            }
        }
    }
    if dir.exists() {
        found.push(format!("directory {d}"));
    }
    found
}

fn control_bases() -> Vec<PathBuf> {
    let mut v = vec![std::env::temp_dir()];
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR") {
        v.push(PathBuf::from(x));
    }
    v
}

/// An overlayfs mounted over the lab's directory, as a container's root is: overlayfs
/// refuses an upper directory there, so the lab must put its own elsewhere.
struct ContainerLike {
    scratch: tempfile::TempDir,
    dir: PathBuf,
}

impl ContainerLike {
    fn over(dir: &Path) -> ContainerLike {
        let scratch = tempfile::tempdir().expect("temp dir");
        let s = scratch.path().display().to_string();
        std::fs::create_dir_all(dir).expect("lab dir");
        let script = format!(
            "mount -t tmpfs pgrepl-test {s} && mkdir {s}/l {s}/u {s}/w && \
             mount -t overlay overlay -o lowerdir={s}/l,upperdir={s}/u,workdir={s}/w {d}",
            d = dir.display()
        );
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("sh");
        assert!(out.status.success(), "{script}: {}", text(&out));
        ContainerLike {
            scratch,
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for ContainerLike {
    fn drop(&mut self) {
        for m in [&self.dir, &self.scratch.path().to_path_buf()] {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[test]
fn in_a_container_under_a_chinese_locale_it_streams_and_leaves_nothing_behind() {
    let dir = PathBuf::from("/var/lib/pgrepl-lab").join(NAME);
    let _ = common::command()
        .args(["lab", "down", "--name", NAME])
        .output();
    let before = leftovers(&dir);
    let fs_root = ContainerLike::over(&dir);
    let lab = Lab::up(NAME, PREFIX);
    assert!(
        lab.up_output.contains("tmpfs"),
        "the lab did not move its copy-on-write layers off overlayfs:\n{}",
        lab.up_output
    );
    let c = lab.config().to_string_lossy().to_string();
    let zh = [
        ("PGREPL_REPLICA_PASSWORD", common::PASSWORD),
        ("PGREPL_LANG", "zh"),
        ("LANG", "zh_CN.UTF-8"),
    ];
    let out = lab.pgrepl_with(&["apply", "--config", &c, "--yes"], &zh);
    assert_ok(&out, "apply under zh_CN");
    assert!(
        text(&out)
            .chars()
            .any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)),
        "PGREPL_LANG=zh printed no Chinese:\n{}",
        text(&out)
    );
    assert_streams(&lab);
    let status = lab.pgrepl_with(&["status", "--config", &c], &zh);
    assert_ok(&status, "status under zh_CN");

    let down = common::command()
        .args(["lab", "down", "--name", NAME])
        .output()
        .expect("lab down");
    assert_ok(&down, "lab down");
    drop(lab);
    drop(fs_root);
    let after = leftovers(&dir);
    let new: Vec<_> = after.iter().filter(|l| !before.contains(l)).collect();
    assert!(new.is_empty(), "left behind: {new:#?}");
}

#[test]
fn lab_up_refuses_without_root_in_one_sentence_before_changing_anything() {
    // A copy nobody may run: the build tree may sit under a private home.
    let place = tempfile::tempdir().expect("temp dir");
    let exe = place.path().join("pgrepl");
    std::fs::copy(common::bin(), &exe).expect("copy the binary");
    let open = |p: &Path, mode| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    open(place.path(), 0o755);
    open(&exe, 0o755);
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["lab", "up", "--name", "nope", "--subnet", "10.77.99.0/24"])
        .env("PGREPL_LANG", "en")
        .output()
        .expect("setpriv runs");
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("root"), "{msg}");
    assert_eq!(msg.trim().lines().count(), 1, "one sentence:\n{msg}");
    assert!(!Path::new("/var/lib/pgrepl-lab/nope").exists());
    assert!(!Path::new("/run/netns/pgrepl-nope-primary").exists());
}
