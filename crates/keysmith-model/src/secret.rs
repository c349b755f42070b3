//! Secret bytes: zeroized on drop, never printed.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Private key DER or an HMAC secret.
///
/// Invariant: the bytes are wiped when the value is dropped, and neither `Debug` nor any other
/// formatting shows them. There is deliberately no `Display`, `Serialize` or `PartialEq`
/// (comparing secrets must be constant-time, which is the caller's explicit choice).
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret bytes. Callers must not copy them anywhere that outlives the operation.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

/// How `Debug` shows an optional secret: whether it is there, never what it is.
pub fn redacted<T>(value: &Option<T>) -> &'static str {
    if value.is_some() {
        "Some([REDACTED])"
    } else {
        "None"
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([REDACTED; {} bytes])", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let secret = SecretBytes::new(b"hunter2-hunter2".to_vec());
        let printed = format!("{secret:?} {secret:#?}");
        assert!(!printed.contains("hunter2"));
        assert!(!printed.contains("104")); // the first byte, as a number
        assert!(printed.contains("REDACTED"));
    }
}
