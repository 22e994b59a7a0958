//! What the `hosts` step learns about a host, from one read-only probe script.

use serde::{Deserialize, Serialize};

use super::PgVersion;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OsFamily {
    Debian,
    Rhel,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub version: PgVersion,
    pub name: String,
    pub port: u16,
    pub running: bool,
    pub data_dir: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    pub os_id: String,
    pub os_version: String,
    pub family: OsFamily,
    pub hostname: String,
    pub machine_id: String,
    pub systemd: bool,
    pub package_manager: String,
    pub installed: Vec<PgVersion>,
    pub clusters: Vec<ClusterInfo>,
    /// Global addresses with their prefix, e.g. `10.77.0.11/24`.
    pub addresses: Vec<String>,
    /// `uname -m` (`x86_64`).
    #[serde(default)]
    pub arch: String,
    /// The C library's version (`2.36`): it decides how text sorts in indexes.
    #[serde(default)]
    pub glibc: String,
}

/// Read-only; run as root. Prints `key=value` lines that [`HostFacts::parse`] reads. POSIX sh,
/// because the remote shell may be dash, bash or busybox.
pub fn probe_script() -> &'static str {
    r#"[ -r /etc/os-release ] && . /etc/os-release
echo "os_id=${ID:-unknown}"
echo "os_like=${ID_LIKE:-}"
echo "os_version=${VERSION_ID:-}"
echo "hostname=$(hostname 2>/dev/null || cat /etc/hostname)"
echo "machine_id=$(cat /etc/machine-id 2>/dev/null)"
echo "arch=$(uname -m)"
echo "glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed 's/^glibc //')"
if [ -d /run/systemd/system ]; then echo systemd=yes; else echo systemd=no; fi
for m in apt-get dnf yum; do command -v $m >/dev/null 2>&1 && { echo "pkg=$m"; break; }; done
for b in /usr/lib/postgresql/*/bin/postgres /usr/pgsql-*/bin/postgres; do [ -x "$b" ] && echo "pg_bin=$b"; done
if command -v pg_lsclusters >/dev/null 2>&1; then pg_lsclusters -h 2>/dev/null | sed 's/^/cluster=/'; fi
for d in /var/lib/pgsql/*/data; do
  [ -f "$d/PG_VERSION" ] || continue
  st=down; [ -f "$d/postmaster.pid" ] && kill -0 "$(head -n 1 "$d/postmaster.pid")" 2>/dev/null && st=online
  port=$(sed -n 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$d/postgresql.conf" | tail -n 1)
  echo "cluster=$(cat "$d/PG_VERSION") data ${port:-5432} $st postgres $d"
done
ip -o addr show scope global 2>/dev/null | while read -r _ _ fam addr _; do echo "addr=$addr"; done
true"#
}

impl HostFacts {
    pub fn parse(output: &str) -> HostFacts {
        let mut f = HostFacts {
            os_id: String::new(),
            os_version: String::new(),
            family: OsFamily::Other(String::new()),
            hostname: String::new(),
            machine_id: String::new(),
            systemd: false,
            package_manager: String::new(),
            installed: vec![],
            clusters: vec![],
            addresses: vec![],
            arch: String::new(),
            glibc: String::new(),
        };
        let mut like = String::new();
        for line in output.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim();
            match k {
                "os_id" => f.os_id = v.to_string(),
                "os_like" => like = v.to_string(),
                "os_version" => f.os_version = v.to_string(),
                "hostname" => f.hostname = v.to_string(),
                "machine_id" => f.machine_id = v.to_string(),
                "arch" => f.arch = v.to_string(),
                "glibc" => f.glibc = v.to_string(),
                "systemd" => f.systemd = v == "yes",
                "pkg" => f.package_manager = v.to_string(),
                "pg_bin" => {
                    // /usr/lib/postgresql/15/bin/postgres or /usr/pgsql-9.5/bin/postgres
                    let dir = v.trim_end_matches("/bin/postgres");
                    let ver = dir.rsplit(['/', '-']).next().and_then(PgVersion::parse);
                    if let Some(ver) = ver {
                        if !f.installed.contains(&ver) {
                            f.installed.push(ver);
                        }
                    }
                }
                "cluster" => {
                    if let Some(c) = parse_cluster(v) {
                        f.clusters.push(c);
                    }
                }
                "addr" => f.addresses.push(v.to_string()),
                _ => {}
            }
        }
        f.installed.sort();
        let words = format!("{} {}", f.os_id, like);
        f.family = if words
            .split_whitespace()
            .any(|w| w == "debian" || w == "ubuntu")
        {
            OsFamily::Debian
        } else if words
            .split_whitespace()
            .any(|w| ["rhel", "centos", "fedora", "rocky", "almalinux"].contains(&w))
        {
            OsFamily::Rhel
        } else {
            OsFamily::Other(f.os_id.clone())
        };
        f
    }

    pub fn cluster(&self, version: PgVersion, name: &str) -> Option<&ClusterInfo> {
        self.clusters
            .iter()
            .find(|c| c.version == version && (c.name == name || c.name == "data"))
    }

    /// The host's global addresses with their networks (`10.77.0.11/24`).
    pub fn networks(&self) -> Vec<ipnet::IpNet> {
        self.addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    /// Whether `cidr` holds one of the host's addresses; None when they are unknown.
    pub fn is_in(&self, cidr: &ipnet::IpNet) -> Option<bool> {
        let nets = self.networks();
        (!nets.is_empty()).then(|| nets.iter().any(|n| cidr.contains(&n.addr())))
    }
}

/// One line of `pg_lsclusters -h`: `15 main 5432 online postgres /var/lib/... /var/log/...`.
/// How a standby's host differs from its primary's where a physical copy cares: the
/// architecture (the data files' format), the C library (text order in indexes: a copy
/// under another glibc can silently return wrong results) and the OS release. Each as
/// (what, primary's, standby's); unknown values are not compared.
pub fn copy_mismatches(
    primary: &HostFacts,
    standby: &HostFacts,
) -> Vec<(&'static str, String, String)> {
    let release = |f: &HostFacts| {
        format!(
            "{} {}",
            f.os_id,
            f.os_version.split('.').next().unwrap_or_default()
        )
    };
    let pairs = [
        ("architecture", primary.arch.clone(), standby.arch.clone()),
        ("glibc", primary.glibc.clone(), standby.glibc.clone()),
        ("OS release", release(primary), release(standby)),
    ];
    pairs
        .into_iter()
        .filter(|(_, p, s)| !p.trim().is_empty() && !s.trim().is_empty() && p != s)
        .collect()
}

fn parse_cluster(line: &str) -> Option<ClusterInfo> {
    let mut w = line.split_whitespace();
    let version = PgVersion::parse(w.next()?)?;
    let name = w.next()?.to_string();
    let port = w.next()?.parse().ok()?;
    let running = w.next()?.starts_with("online");
    let _owner = w.next()?;
    let data_dir = w.next()?.to_string();
    Some(ClusterInfo {
        version,
        name,
        port,
        running,
        data_dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_debian_probe() {
        let out = "os_id=debian\nos_like=\nos_version=12\nhostname=lab-primary\nsystemd=no\n\
                   pkg=apt-get\npg_bin=/usr/lib/postgresql/15/bin/postgres\n\
                   cluster=15  main    5432 online,recovery postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log\n\
                   addr=10.77.0.10/24\nnoise without equals\n";
        let f = HostFacts::parse(out);
        assert_eq!(f.family, OsFamily::Debian);
        assert_eq!(f.installed, vec![PgVersion::new(15)]);
        assert_eq!(f.clusters.len(), 1);
        assert!(f.clusters[0].running);
        assert_eq!(f.clusters[0].data_dir, "/var/lib/postgresql/15/main");
        assert!(f.cluster(PgVersion::new(15), "main").is_some());
        assert_eq!(f.addresses, vec!["10.77.0.10/24"]);
        assert_eq!(f.is_in(&"10.77.0.0/24".parse().unwrap()), Some(true));
        assert_eq!(f.is_in(&"10.88.0.0/24".parse().unwrap()), Some(false));
        assert_eq!(
            HostFacts::parse("").is_in(&"10.0.0.0/8".parse().unwrap()),
            None
        );
        assert!(!f.systemd);
    }

    #[test]
    fn reads_a_centos7_probe() {
        let out = "os_id=centos\nos_like=rhel fedora\nos_version=7\nsystemd=yes\npkg=yum\n\
                   pg_bin=/usr/pgsql-9.5/bin/postgres\n\
                   cluster=9.5 data 5432 down postgres /var/lib/pgsql/9.5/data\n";
        let f = HostFacts::parse(out);
        assert_eq!(f.family, OsFamily::Rhel);
        assert_eq!(f.installed[0].to_string(), "9.5");
        assert!(!f.clusters[0].running);
        assert!(f
            .cluster(PgVersion::parse("9.5").unwrap(), "main")
            .is_some());
    }

    #[test]
    fn a_copy_needs_the_same_architecture_c_library_and_release() {
        let host = |arch: &str, glibc: &str, version: &str| {
            HostFacts::parse(&format!(
                "os_id=debian\nos_version={version}\narch={arch}\nglibc={glibc}\n"
            ))
        };
        let primary = host("x86_64", "2.36", "12");
        assert!(copy_mismatches(&primary, &host("x86_64", "2.36", "12")).is_empty());
        let found = copy_mismatches(&primary, &host("aarch64", "2.31", "11"));
        let what: Vec<&str> = found.iter().map(|(w, _, _)| *w).collect();
        assert_eq!(what, vec!["architecture", "glibc", "OS release"]);
        // Point releases share their C library; unknown values are not held against a host.
        assert!(copy_mismatches(
            &host("x86_64", "2.34", "9.3"),
            &host("x86_64", "2.34", "9.4")
        )
        .is_empty());
        assert!(copy_mismatches(&primary, &host("", "", "12")).is_empty());
    }
}
