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
}
