//! The SSH transport delivers a command's whole output, also when the command exits before
//! the output has been read (as a base64 dump of a config file does).

mod common;

use std::sync::Arc;

use common::{Host, Lab};
use pgrepl::remote::{Host as RemoteHost, Input, Privilege, SshOptions, SshRemote, Stream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_outputs_arrive_whole() {
    let lab = Lab::up("sshout", "10.77.4");
    let remote = SshRemote::connect(&SshOptions {
        host: lab.ip(Host::Primary),
        user: "root".into(),
        port: 22,
        identity_file: Some(lab.dir.join("id_ed25519")),
        known_hosts_file: Some(lab.dir.join("known_hosts")),
        ..Default::default()
    })
    .await
    .expect("ssh connects");
    let host = RemoteHost::new(Arc::new(remote), Privilege::Root);
    // 40 000 bytes of base64 in 76-column lines, then an end line, exiting at once.
    let script = "head -c 30000 /dev/zero | base64; echo END";
    for round in 0..40 {
        let mut ignore = |_: Stream, _: &str| {};
        let done = host
            .run_root(script, Input::None, &mut ignore, &mut |_| {})
            .await
            .expect("command runs");
        assert!(done.ok());
        assert_eq!(
            done.stdout.len(),
            40_000 + 40_000 / 76 + 1 + 4,
            "round {round}"
        );
        assert!(
            done.stdout.ends_with("END\n"),
            "round {round}: output cut short"
        );
    }
    drop(host);
    pgrepl::remote::shutdown();
}
