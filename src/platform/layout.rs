//! Where a cluster's files are and how its service is driven, per OS family. Every method
//! returns a POSIX sh fragment meant to run as root on the host.

use serde::{Deserialize, Serialize};

use super::{HostFacts, OsFamily, PgVersion};
use crate::quote::sh;
use crate::tr;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub family: OsFamily,
    pub systemd: bool,
    pub package_manager: String,
    pub version: PgVersion,
    pub cluster: String,
    pub port: u16,
    /// The hba file the running server reads, when it is not the usual one (its
    /// `hba_file` setting): that is the file to edit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hba_path: Option<String>,
}

impl Layout {
    pub fn new(
        facts: &HostFacts,
        version: PgVersion,
        cluster: &str,
        port: u16,
    ) -> Result<Layout, String> {
        if let OsFamily::Other(id) = &facts.family {
            return Err(tr!("error.unsupported_os", os = id));
        }
        Ok(Layout {
            family: facts.family.clone(),
            systemd: facts.systemd,
            package_manager: facts.package_manager.clone(),
            version,
            cluster: cluster.to_string(),
            port,
            hba_path: None,
        })
    }

    fn debian(&self) -> bool {
        self.family == OsFamily::Debian
    }

    pub fn bin_dir(&self) -> String {
        if self.debian() {
            format!("/usr/lib/postgresql/{}/bin", self.version)
        } else {
            format!("/usr/pgsql-{}/bin", self.version)
        }
    }

    pub fn bin(&self, program: &str) -> String {
        format!("{}/{}", self.bin_dir(), program)
    }

    pub fn data_dir(&self) -> String {
        if self.debian() {
            format!("/var/lib/postgresql/{}/{}", self.version, self.cluster)
        } else {
            format!("/var/lib/pgsql/{}/data", self.version)
        }
    }

    /// Debian keeps the configuration outside the data directory, so a base backup does
    /// not carry it; RHEL keeps it inside.
    pub fn conf_dir(&self) -> String {
        if self.debian() {
            format!("/etc/postgresql/{}/{}", self.version, self.cluster)
        } else {
            self.data_dir()
        }
    }

    pub fn conf_file(&self) -> String {
        format!("{}/postgresql.conf", self.conf_dir())
    }

    pub fn hba_file(&self) -> String {
        match &self.hba_path {
            Some(p) => p.clone(),
            None => format!("{}/pg_hba.conf", self.conf_dir()),
        }
    }

    pub fn auto_conf_file(&self) -> String {
        format!("{}/postgresql.auto.conf", self.data_dir())
    }

    /// The postgres account's home, where libpq looks for `.pgpass`.
    pub fn postgres_home(&self) -> &'static str {
        if self.debian() {
            "/var/lib/postgresql"
        } else {
            "/var/lib/pgsql"
        }
    }

    pub fn package(&self) -> String {
        if self.debian() {
            format!("postgresql-{}", self.version)
        } else {
            format!("postgresql{}-server", self.version.compact())
        }
    }

    /// Installs the server package unless it is there. `--no-upgrade` and the check first:
    /// a host that has the package must not be touched, and the package lists are only
    /// refreshed when the first attempt could not find the package.
    pub fn install(&self) -> String {
        let pkg = sh(&self.package());
        if self.debian() {
            format!(
                "if dpkg-query -W -f='${{Status}}' {pkg} 2>/dev/null | grep -q 'ok installed'; then\n  \
                 echo {pkg} is already installed\nelse\n  \
                 export DEBIAN_FRONTEND=noninteractive\n  \
                 apt-get install -y -q --no-upgrade {pkg} || {{ apt-get update -q && apt-get install -y -q --no-upgrade {pkg}; }}\nfi"
            )
        } else {
            let pm = if self.package_manager.is_empty() {
                "yum"
            } else {
                &self.package_manager
            };
            format!(
                "if rpm -q {pkg} >/dev/null 2>&1; then\n  echo {pkg} is already installed\nelse\n  {pm} install -y {pkg}\nfi"
            )
        }
    }

    /// Removes the server package (not its data: clusters are set aside before).
    pub fn remove_package(&self) -> String {
        let pkg = sh(&self.package());
        if self.debian() {
            format!("DEBIAN_FRONTEND=noninteractive apt-get remove -y -q {pkg}")
        } else {
            let pm = if self.package_manager.is_empty() {
                "yum"
            } else {
                &self.package_manager
            };
            format!("{pm} remove -y {pkg}")
        }
    }

    /// Exit status 0 when the cluster's data directory holds a cluster.
    pub fn has_cluster(&self) -> String {
        format!("[ -f {} ]", sh(&format!("{}/PG_VERSION", self.data_dir())))
    }

    /// The configuration directory when it lies outside the data directory (Debian).
    pub fn separate_conf_dir(&self) -> Option<String> {
        self.debian().then(|| self.conf_dir())
    }

    /// The systemd unit `enable` enables, if any.
    pub fn unit(&self) -> Option<String> {
        self.enable()
            .and_then(|e| e.strip_prefix("systemctl enable ").map(str::to_string))
    }

    pub fn package_check(&self) -> String {
        let pkg = sh(&self.package());
        if self.debian() {
            format!("dpkg-query -W -f='${{Status}}' {pkg} 2>/dev/null | grep -q 'ok installed'")
        } else {
            format!("rpm -q {pkg} >/dev/null 2>&1")
        }
    }

    /// Creates the cluster when its data directory has no PG_VERSION yet.
    pub fn create_cluster(&self) -> String {
        self.create_cluster_with("")
    }

    /// A cluster that only provides the configuration directory and is replaced by a base
    /// backup in the next steps: initdb need not flush it to disk (`--no-sync`).
    /// Where it exists already it is kept: by its configuration, since base-backup may
    /// have moved its data directory aside (a run cut short between the two).
    pub fn create_scratch_cluster(&self) -> String {
        // -N: 9.5 and 9.6 spell the long option --nosync, later versions --no-sync.
        let create = self.create_cluster_with(" -- -N");
        if self.debian() {
            let conf = sh(&self.conf_file());
            format!("if [ -f {conf} ]; then echo cluster configuration exists at {conf}; else {create}; fi")
        } else {
            create
        }
    }

    /// Exit status 0 when the scratch cluster's configuration is there (see
    /// [`Layout::create_scratch_cluster`]).
    pub fn has_scratch_cluster(&self) -> String {
        format!("[ -f {} ]", sh(&self.conf_file()))
    }

    fn create_cluster_with(&self, initdb_options: &str) -> String {
        let data = sh(&self.data_dir());
        let create = if self.debian() {
            format!(
                "pg_createcluster -p {} {} {}{initdb_options}",
                self.port,
                self.version,
                sh(&self.cluster)
            )
        } else if self.systemd {
            let setup = if self.version.major >= 10 {
                format!("postgresql-{}-setup", self.version)
            } else {
                format!("postgresql{}-setup", self.version.compact())
            };
            format!(
                "{} initdb && sed -i 's/^#*port = .*/port = {}/' {}/postgresql.conf",
                self.bin(&setup),
                self.port,
                data
            )
        } else {
            format!(
                "{} {} -D {data} && sed -i 's/^#*port = .*/port = {}/' {data}/postgresql.conf",
                self.as_postgres(),
                self.bin("initdb"),
                self.port
            )
        };
        format!(
            "if [ -f {data}/PG_VERSION ]; then echo cluster exists at {data}; else {create}; fi"
        )
    }

    /// Exit status 0 when the server accepts connections.
    pub fn is_running(&self) -> String {
        format!(
            "{} {} -D {} status >/dev/null 2>&1",
            self.as_postgres(),
            self.bin("pg_ctl"),
            sh(&self.data_dir())
        )
    }

    fn service(&self, action: &str) -> String {
        if self.systemd {
            // The service manager must know the server's state, so it does the work.
            return if self.debian() {
                format!(
                    "pg_ctlcluster {} {} {action}",
                    self.version,
                    sh(&self.cluster)
                )
            } else {
                format!("systemctl {action} postgresql-{}", self.version)
            };
        }
        // Without systemd, pg_ctl -w waits for readiness itself and returns as soon as the
        // server accepts connections; pg_ctlcluster adds fixed waits of two seconds and more.
        let (log, options) = if self.debian() {
            (
                format!(
                    "/var/log/postgresql/postgresql-{}-{}.log",
                    self.version, self.cluster
                ),
                format!(
                    " -o {}",
                    sh(&format!("-c config_file={}", self.conf_file()))
                ),
            )
        } else {
            (
                format!("{}/pgrepl-server.log", self.postgres_home()),
                String::new(),
            )
        };
        let mode = if action == "start" { "" } else { " -m fast" };
        let prepare = if self.debian() && action != "stop" {
            // What pg_ctlcluster would create: the socket directory and, before 15, the
            // statistics directory named in postgresql.conf.
            format!(
                "install -d -o postgres -g postgres -m 2775 /var/run/postgresql && \
                 st=$(sed -n \"s/^stats_temp_directory = '\\(.*\\)'.*/\\1/p\" {conf}) && \
                 {{ [ -z \"$st\" ] || install -d -o postgres -g postgres -m 700 \"$st\"; }} && ",
                conf = sh(&self.conf_file())
            )
        } else {
            String::new()
        };
        format!(
            "{prepare}{} {} -D {}{options} -l {} -w -t 120{mode} {action}",
            self.as_postgres(),
            self.bin("pg_ctl"),
            sh(&self.data_dir()),
            sh(&log)
        )
    }

    /// The server log's last lines, for a start that failed.
    pub fn log_tail(&self) -> String {
        if self.systemd && !self.debian() {
            return format!(
                "journalctl -u postgresql-{} -n 20 --no-pager 2>/dev/null || true",
                self.version
            );
        }
        let log = if self.debian() {
            format!(
                "/var/log/postgresql/postgresql-{}-{}.log",
                self.version, self.cluster
            )
        } else {
            format!("{}/pgrepl-server.log", self.postgres_home())
        };
        format!("tail -n 20 {} 2>/dev/null || true", sh(&log))
    }

    pub fn start(&self) -> String {
        format!("{} || {{ {}; }}", self.is_running(), self.service("start"))
    }

    pub fn stop(&self) -> String {
        format!(
            "{{ ! {r} || {{ {}; }}; }} && ! {r}",
            self.service("stop"),
            r = self.is_running()
        )
    }

    pub fn restart(&self) -> String {
        self.service("restart")
    }

    /// Makes the server start at boot; nothing to do without systemd.
    pub fn enable(&self) -> Option<String> {
        if !self.systemd {
            return None;
        }
        Some(if self.debian() {
            "systemctl enable postgresql".to_string()
        } else {
            format!("systemctl enable postgresql-{}", self.version)
        })
    }

    /// Prefix that runs the rest of the line as the postgres account. `cd /` first so
    /// programs do not complain that root's home is unreadable.
    pub fn as_postgres(&self) -> String {
        "runuser -u postgres --".to_string()
    }

    /// psql as the superuser over the local socket, SQL read from stdin, stopping at the
    /// first error. `-X` so a ~/.psqlrc cannot change the output we parse.
    pub fn psql(&self) -> String {
        // Our SQL quoting assumes standard_conforming_strings, whatever the server's default.
        format!(
            "{} env PGOPTIONS='-c standard_conforming_strings=on' {} -X -q -At -v ON_ERROR_STOP=1 -p {} -d postgres",
            self.as_postgres(),
            self.bin("psql"),
            self.port
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(family: OsFamily, systemd: bool) -> HostFacts {
        let mut f = HostFacts::parse("");
        f.family = family;
        f.systemd = systemd;
        f
    }

    fn debian_15(systemd: bool) -> Layout {
        Layout::new(
            &facts(OsFamily::Debian, systemd),
            PgVersion::new(15),
            "main",
            5432,
        )
        .unwrap()
    }

    #[test]
    fn debian_paths() {
        let l = debian_15(false);
        assert_eq!(l.conf_file(), "/etc/postgresql/15/main/postgresql.conf");
        assert_eq!(l.data_dir(), "/var/lib/postgresql/15/main");
        assert_eq!(l.package(), "postgresql-15");
        assert!(l.restart().ends_with(
            "pg_ctl -D /var/lib/postgresql/15/main -o '-c config_file=/etc/postgresql/15/main/postgresql.conf' \
             -l /var/log/postgresql/postgresql-15-main.log -w -t 120 -m fast restart"
        ));
        assert_eq!(debian_15(true).restart(), "pg_ctlcluster 15 main restart");
        assert!(l.enable().is_none());
        assert!(l.install().contains("--no-upgrade"));
    }

    #[test]
    fn rhel_paths_for_the_tutorial() {
        let v = PgVersion::parse("9.5").unwrap();
        let l = Layout::new(&facts(OsFamily::Rhel, true), v, "main", 5432).unwrap();
        assert_eq!(l.hba_file(), "/var/lib/pgsql/9.5/data/pg_hba.conf");
        assert_eq!(l.package(), "postgresql95-server");
        assert!(l
            .create_cluster()
            .contains("/usr/pgsql-9.5/bin/postgresql95-setup initdb"));
        assert_eq!(l.restart(), "systemctl restart postgresql-9.5");
        assert_eq!(l.enable().unwrap(), "systemctl enable postgresql-9.5");
    }

    #[test]
    fn service_commands_run_only_when_needed() {
        let l = debian_15(false);
        // `a || b && c` would start a running server again: the whole action is one group.
        // Service actions are chains themselves (prepare && pg_ctl), as the stand-ins are.
        for (script, state, expect) in [
            (l.start(), "0", "ran"),
            (l.start(), "1", "prepared"),
            (l.stop(), "1", "ran"),
            (l.stop(), "0", "prepared"),
        ] {
            let script = script
                .replace(&l.is_running(), &format!("return_{state}"))
                .replace(&l.service("start"), "echo prepared && echo started")
                .replace(&l.service("stop"), "echo prepared && echo stopped");
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("return_0() {{ return 0; }}; return_1() {{ return 1; }}; {script} || true; echo ran"))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text.lines().next(), Some(expect), "{script}");
        }
    }

    #[test]
    fn other_systems_are_refused() {
        assert!(Layout::new(
            &facts(OsFamily::Other("arch".into()), true),
            PgVersion::new(16),
            "main",
            5432
        )
        .is_err());
    }
}
