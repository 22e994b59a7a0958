//! Secrets that cannot leak by accident: no `Display`, a masked `Debug`, no serde, and
//! the bytes wiped when the value is dropped.

use std::fmt;

use zeroize::{ZeroizeOnDrop, Zeroizing};

/// A password or other secret. The only way to read it is [`Secret::expose`], which is
/// called where the bytes go onto a remote process's stdin or into a 0600 file.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

/// Its only field wipes itself on drop (the whole capacity, not only the length).
impl ZeroizeOnDrop for Secret {}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// What the user sees wherever a secret would have been.
pub const MASK: &str = "****";

/// Keeps the secrets this process holds out of core files and away from other processes
/// of the same user: no core file (RLIMIT_CORE 0) and not dumpable, which also makes
/// `/proc/<pid>/environ`, `mem`, ... root-only and refuses their ptrace. Children start
/// dumpable again (execve resets it) but inherit the core limit. Lowering both can only
/// fail for invalid arguments.
#[cfg(target_os = "linux")]
pub fn forbid_core_dumps() -> std::io::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the one rlimit value passed.
    // The hard limit is kept: a child that wants core files may raise its own again.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_CORE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit.rlim_cur = 0;
        if libc::setrlimit(libc::RLIMIT_CORE, &limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    // SAFETY: PR_SET_DUMPABLE takes one integer argument and touches no memory of ours.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Elsewhere there is no portable way; nothing is changed.
#[cfg(not(target_os = "linux"))]
pub fn forbid_core_dumps() -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(****)");
        assert_eq!(s.expose(), "hunter2");
    }

    /// Reading freed memory to see the zeros would be undefined behaviour; the type says it.
    #[test]
    fn the_bytes_are_wiped_on_drop() {
        fn wipes_on_drop<T: ZeroizeOnDrop>() {}
        wipes_on_drop::<Secret>();
        wipes_on_drop::<Zeroizing<String>>();
    }

    /// Changes this test process as it changes pgrepl: harmless for the other tests.
    #[cfg(target_os = "linux")]
    #[test]
    fn no_core_dumps_and_not_dumpable() {
        forbid_core_dumps().unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: as in forbid_core_dumps.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_CORE, &mut limit), 0);
            assert_eq!(libc::prctl(libc::PR_GET_DUMPABLE), 0);
        }
        assert_eq!(limit.rlim_cur, 0);
    }
}
