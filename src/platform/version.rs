//! What changes with the PostgreSQL major version.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A major version: `9.5`, `9.6`, `10` ... `18`. `minor` is only meaningful before 10, when
/// majors had two parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PgVersion {
    pub major: u32,
    pub minor: u32,
}

impl PgVersion {
    pub const fn new(major: u32) -> Self {
        PgVersion { major, minor: 0 }
    }

    /// Accepts `15`, `9.5`, and full versions such as `15.4` or `9.5.25`.
    pub fn parse(text: &str) -> Option<PgVersion> {
        let mut parts = text.trim().split('.');
        let major: u32 = parts.next()?.parse().ok()?;
        if major >= 10 {
            return Some(PgVersion::new(major));
        }
        let minor: u32 = parts.next()?.parse().ok()?;
        Some(PgVersion { major, minor })
    }

    pub fn is_supported(&self) -> bool {
        *self >= PgVersion { major: 9, minor: 5 } && self.major <= 18
    }

    /// Before 9.6 the level that streaming needs was called `hot_standby`.
    pub fn wal_level(&self) -> &'static str {
        if *self >= (PgVersion { major: 9, minor: 6 }) {
            "replica"
        } else {
            "hot_standby"
        }
    }

    /// The setting that keeps WAL on the primary for standbys, and the least value pgrepl
    /// wants there (256 MB): renamed from segments (16 MB each) to a size in 13.
    pub fn wal_keep(&self) -> (&'static str, u64) {
        if self.major >= 13 {
            ("wal_keep_size", 256)
        } else {
            ("wal_keep_segments", 16)
        }
    }

    /// scram-sha-256 became the default password encryption in 14; before that a scram
    /// entry in pg_hba.conf would reject roles whose password was stored as md5.
    pub fn hba_method(&self) -> &'static str {
        if self.major >= 14 {
            "scram-sha-256"
        } else {
            "md5"
        }
    }

    /// From 12 on, recovery.conf is gone: `standby.signal` plus settings in the config.
    pub fn uses_standby_signal(&self) -> bool {
        self.major >= 12
    }

    /// `wal_keep_segments` became `wal_keep_size` in 13.
    pub fn has_wal_keep_size(&self) -> bool {
        self.major >= 13
    }

    /// The name used in package names on RHEL (PGDG): `95`, `15`.
    pub fn compact(&self) -> String {
        if self.major >= 10 {
            self.major.to_string()
        } else {
            format!("{}{}", self.major, self.minor)
        }
    }
}

impl fmt::Display for PgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.major >= 10 {
            write!(f, "{}", self.major)
        } else {
            write!(f, "{}.{}", self.major, self.minor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_old_and_new_majors() {
        assert_eq!(PgVersion::parse("9.5").unwrap().to_string(), "9.5");
        assert_eq!(PgVersion::parse("9.5.25").unwrap().to_string(), "9.5");
        assert_eq!(PgVersion::parse("15.4").unwrap().to_string(), "15");
        assert_eq!(PgVersion::parse("18").unwrap().compact(), "18");
        assert_eq!(PgVersion::parse("9.6").unwrap().compact(), "96");
        assert!(PgVersion::parse("9").is_none());
        assert!(PgVersion::parse("x").is_none());
        assert!(!PgVersion::parse("9.4").unwrap().is_supported());
        assert!(!PgVersion::parse("19").unwrap().is_supported());
        assert!(PgVersion::parse("9.5").unwrap().is_supported());
    }

    #[test]
    fn version_aware_settings() {
        let v95 = PgVersion::parse("9.5").unwrap();
        let v96 = PgVersion::parse("9.6").unwrap();
        assert_eq!(v95.wal_level(), "hot_standby");
        assert_eq!(v96.wal_level(), "replica");
        assert_eq!(PgVersion::new(13).hba_method(), "md5");
        assert_eq!(PgVersion::new(14).hba_method(), "scram-sha-256");
        assert!(!PgVersion::new(11).uses_standby_signal());
        assert!(PgVersion::new(12).uses_standby_signal());
        assert!(v95 < PgVersion::new(10));
    }
}
