//! The exact commands each step runs on fresh hosts, per platform, pinned by snapshots: a
//! dry run of each step's own apply (as `pgrepl plan` shows it) against hosts not reached,
//! which read as "nothing there yet". The lab runs Debian without systemd; these cover
//! the other layouts the lab cannot host.

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use crate::config::Config;
    use crate::engine::{Control, Cx, Events, Journal, Role, StepId};
    use crate::platform::{HostFacts, Layout};

    fn cx(probe: &str, version: &str) -> Cx {
        let mut setup = Config::parse(
            "[primary]\nhost = \"10.0.1.10\"\n[standby]\nhost = \"10.0.1.11\"\nuser = \"admin\"\n\
             [postgres]\nallowed_cidr = \"10.0.1.0/24\"\n",
        )
        .unwrap()
        .validate()
        .unwrap();
        setup.pg_version = crate::platform::PgVersion::parse(version);
        let facts = |host: &str, addr: &str| {
            HostFacts::parse(&format!("{probe}\nhostname={host}\naddr={addr}\n"))
        };
        let facts = vec![facts("db1", "10.0.1.10/24"), facts("db2", "10.0.1.11/24")];
        let v = setup.pg_version.unwrap();
        let layouts = facts
            .iter()
            .map(|f| Layout::new(f, v, "main", 5432).unwrap())
            .collect();
        Cx {
            setup,
            password: None,
            step: StepId::Hosts,
            events: Events::none(),
            control: Arc::new(Control::default()),
            journal: Arc::new(Mutex::new(Journal::new(
                "root@10.0.1.10:22",
                "admin@10.0.1.11:22",
            ))),
            hosts: vec![],
            facts,
            layouts,
            version: Some(v),
            hints: super::super::hint_for,
            dry: None,
            connector: Arc::new(crate::remote::SshConnector),
            purge_packages: false,
        }
    }

    async fn plan(cx: &Cx) -> String {
        let mut out = String::new();
        for step in crate::steps::all(crate::steps::Access::Look).iter().skip(1) {
            out.push_str(&format!("== {}\n", step.id()));
            let mut dry = cx.dry_copy();
            dry.step = step.id();
            step.apply(&mut dry).await.unwrap();
            for (host, cmd) in dry.recorded() {
                let tag = match host {
                    Role::Primary => "[primary]",
                    Role::Standby(_) => "[standby]",
                };
                for (i, l) in cmd.lines().enumerate() {
                    out.push_str(&format!("{tag} {} {l}\n", if i == 0 { "$" } else { ">" }));
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn debian_12_pg_15_without_systemd() {
        let cx = cx("os_id=debian\nos_version=12\nsystemd=no\npkg=apt-get", "15");
        insta::assert_snapshot!(plan(&cx).await);
    }

    #[tokio::test]
    async fn ubuntu_22_04_pg_14_with_systemd() {
        let cx = cx(
            "os_id=ubuntu\nos_like=debian\nos_version=22.04\nsystemd=yes\npkg=apt-get",
            "14",
        );
        insta::assert_snapshot!(plan(&cx).await);
    }

    #[tokio::test]
    async fn the_tutorial_centos_7_pg_9_5() {
        let cx = cx(
            "os_id=centos\nos_like=rhel fedora\nos_version=7\nsystemd=yes\npkg=yum",
            "9.5",
        );
        insta::assert_snapshot!(plan(&cx).await);
    }
}
