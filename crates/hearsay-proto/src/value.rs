//! The value of an entry: opaque bytes, encoded as msgpack `bin` on the wire.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An entry's value: opaque application bytes.
///
/// ```
/// use hearsay_proto::Value;
/// let v = Value::from("hello");
/// assert_eq!(v.as_bytes(), b"hello");
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Value(#[serde(with = "serde_bytes")] Vec<u8>);

impl Value {
    /// Wraps bytes as a value.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Value {
        Value(bytes.into())
    }

    /// The value's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Takes the bytes out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(text) => write!(f, "{text:?}"),
            Err(_) => write!(f, "{} bytes", self.0.len()),
        }
    }
}

impl From<Vec<u8>> for Value {
    fn from(bytes: Vec<u8>) -> Value {
        Value(bytes)
    }
}

impl From<&[u8]> for Value {
    fn from(bytes: &[u8]) -> Value {
        Value(bytes.to_vec())
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value(text.as_bytes().to_vec())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value(text.into_bytes())
    }
}
