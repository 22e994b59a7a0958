//! Files only their owner may read. The journal, transcripts and saved setups name the
//! hosts, roles, paths and every remote line pgrepl ran: 0600, in a state directory that
//! pgrepl creates 0700. The umask can only narrow these modes, never widen them.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` 0700 (its missing parents as usual) unless it exists. An existing one keeps
/// its mode: `--state-dir` may name a directory the user set up on purpose.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        other => other,
    }
}

/// Opens `path` with `options`, creating it 0600; a file that already exists (written by
/// an older pgrepl, or left by a crash) is made 0600 too.
pub fn open(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    let f = options.mode(0o600).open(path)?;
    f.set_permissions(Permissions::from_mode(0o600))?;
    Ok(f)
}

/// Creates or truncates `path` as a 0600 file holding `bytes`.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<File> {
    let mut f = open(
        path,
        OpenOptions::new().write(true).create(true).truncate(true),
    )?;
    f.write_all(bytes)?;
    Ok(f)
}

#[cfg(test)]
pub(crate) fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("the file exists")
        .permissions()
        .mode()
        & 0o777
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_is_0700_and_an_existing_one_is_left_alone() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("a/b/state");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o750)).unwrap();
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o750, "the user's own choice");
        let file = top.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(create_dir(&file).is_err(), "a file is no directory");
    }

    #[test]
    fn files_are_0600_new_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("new");
        write(&f, b"x").unwrap();
        assert_eq!(mode(&f), 0o600);
        let old = dir.path().join("old");
        std::fs::write(&old, "older").unwrap();
        std::fs::set_permissions(&old, Permissions::from_mode(0o644)).unwrap();
        open(&old, OpenOptions::new().append(true)).unwrap();
        assert_eq!(mode(&old), 0o600);
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "older");
    }
}
