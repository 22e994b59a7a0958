//! Everything that differs between operating systems, service managers and PostgreSQL
//! versions lives here, so that steps say *what* to do and this module says *how* on a
//! given host.

mod facts;
pub mod firewall;
mod layout;
mod version;

pub use facts::{copy_mismatches, probe_script, ClusterInfo, HostFacts, OsFamily};
pub use layout::Layout;
pub use version::PgVersion;

/// The PostgreSQL major a distribution release installs by default, for hosts that have
/// none yet and a config that names none.
pub fn default_pg_version(facts: &HostFacts) -> Option<PgVersion> {
    let v = facts.os_version.split('.').next().unwrap_or("");
    let major = match (facts.os_id.as_str(), v) {
        ("debian", "10") => 11,
        ("debian", "11") => 13,
        ("debian", "12") => 15,
        ("debian", "13") => 17,
        ("ubuntu", "20") => 12,
        ("ubuntu", "22") => 14,
        ("ubuntu", "24") => 16,
        _ => match facts.family {
            // PGDG packages exist for every supported major; pick a current one.
            OsFamily::Rhel => 16,
            _ => return None,
        },
    };
    Some(PgVersion::new(major))
}
