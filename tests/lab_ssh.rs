//! SSH as people have it: a standby reached only through a jump host named in their
//! `~/.ssh/config`, and host keys: an unknown one is refused with its fingerprint and the
//! line that trusts it, a changed one stops everything.

mod common;

use common::{assert_ok, assert_streams, text, Host, Lab};

/// A config whose standby is an ssh alias reached through the primary (`ProxyJump`), with
/// its own ssh config file, as a user's `~/.ssh/config` would have it.
fn jumped_config(lab: &Lab) -> std::path::PathBuf {
    let dir = lab.dir.display().to_string();
    let ssh_config = lab.state.path().join("ssh_config");
    std::fs::write(
        &ssh_config,
        format!(
            "Host jumped-standby\n    HostName {standby}\n    ProxyJump root@{primary}\n\n\
             Host *\n    User root\n    IdentityFile {dir}/id_ed25519\n    IdentitiesOnly yes\n    \
             UserKnownHostsFile {dir}/known_hosts\n    StrictHostKeyChecking yes\n",
            standby = lab.ip(Host::Standby),
            primary = lab.ip(Host::Primary),
        ),
    )
    .expect("ssh config");
    let text = std::fs::read_to_string(lab.config())
        .expect("lab config")
        .replace(
            &format!("host = \"{}\"", lab.ip(Host::Standby)),
            "host = \"jumped-standby\"",
        )
        .replace(
            "[ssh]\n",
            &format!("[ssh]\nconfig_file = \"{}\"\n", ssh_config.display()),
        );
    let path = lab.state.path().join("jumped.toml");
    std::fs::write(&path, text).expect("config");
    path
}

#[test]
fn a_standby_behind_a_jump_host_and_host_keys_checked() {
    let lab = Lab::up("sshj", "10.77.16");
    let jumped = jumped_config(&lab);

    // An unknown host key: refused, with the fingerprint and the line that trusts it.
    let known = lab.dir.join("known_hosts");
    let all_keys = std::fs::read_to_string(&known).expect("known_hosts");
    let standby = lab.ip(Host::Standby);
    let without: String = all_keys
        .lines()
        .filter(|l| !l.starts_with(&format!("{standby},")))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&known, &without).expect("write known_hosts");
    let out = lab.apply(&lab.config(), &[]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("SHA256:"), "no fingerprint:\n{said}");
    assert!(said.contains("ssh-keyscan"), "no way to trust it:\n{said}");

    // A changed host key: stops everything, says so.
    let other = lab.state.path().join("other_key");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .output()
        .expect("ssh-keygen");
    assert_ok(&made, "ssh-keygen");
    let fake = std::fs::read_to_string(other.with_extension("pub")).expect("pub key");
    let fake: Vec<&str> = fake.split_whitespace().take(2).collect();
    std::fs::write(
        &known,
        format!("{without}{standby} {} {}\n", fake[0], fake[1]),
    )
    .expect("write known_hosts");
    let out = lab.apply(&lab.config(), &[]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        // pgrepl's own words (ssh's stderr says "changed" by itself): a stop, and the way out.
        said.contains("may be an attack") && said.contains("ssh-keygen -R"),
        "a changed key is not named:\n{said}"
    );

    // The right key back: through the jump host, to streaming.
    std::fs::write(&known, &all_keys).expect("restore known_hosts");
    let out = lab.apply(&jumped, &[]);
    assert_ok(&out, "apply through the jump host");
    assert_streams(&lab);
    let log = lab.dir.join("standby").join("sshd.log");
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        log.contains(&format!("from {} port", lab.ip(Host::Primary))),
        "the standby was not reached through the primary:\n{log}"
    );
}

/// Hosts that take a password, not a key: pgrepl answers ssh's prompt as its own askpass
/// helper, from `--ssh-password-file`; without it, BatchMode refuses cleanly.
#[test]
fn hosts_that_take_only_a_password() {
    let lab = Lab::up("sshp", "10.77.17");
    let password = "s3cret 'ssh' $(id) ;x";
    for (h, dir) in [(Host::Primary, "primary"), (Host::Standby, "standby")] {
        let out = lab.ssh(h, "chpasswd", &format!("labadmin:{password}\n"));
        assert_ok(&out, "chpasswd");
        let conf = lab.dir.join(dir).join("sshd_config");
        let text = std::fs::read_to_string(&conf)
            .expect("sshd_config")
            .replace("PasswordAuthentication no", "PasswordAuthentication yes");
        std::fs::write(&conf, text).expect("write sshd_config");
        lab.sh(h, "kill -HUP \"$(cat /run/sshd.pid)\"");
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    // The sudo user's config without its key: a password is all it has.
    let config: String = std::fs::read_to_string(lab.sudo_config())
        .expect("sudo config")
        .lines()
        .filter(|l| !l.starts_with("identity_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = lab.state.path().join("password.toml");
    std::fs::write(&path, config).expect("config");

    let out = lab.apply(&path, &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Permission denied"), "{}", text(&out));

    // Outside the state directory, whose every file is checked below.
    let secrets = tempfile::tempdir().expect("temp dir");
    let file = secrets.path().join("ssh-password");
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{password}\n").as_bytes()))
            .expect("password file");
    }
    let f = file.to_string_lossy().to_string();
    let out = lab.apply(&path, &["--ssh-password-file", &f]);
    assert_ok(&out, "apply with an SSH password");
    assert_streams(&lab);
    assert!(
        !lab.state_files_text().contains(password) && !text(&out).contains(password),
        "the SSH password was written down"
    );
}
