//! Cluster keys and the keyring that lets a live cluster rotate them.
//!
//! Every frame is sealed with the keyring's *primary* key and opened with whichever key of the
//! ring authenticates it, so a rotation runs without downtime: (1) add the new key to every
//! node's ring, (2) make it primary everywhere, (3) remove the old key. See `docs/networking.md`.

use crate::Error;
use std::fmt;

/// Length of a key in bytes (XChaCha20-Poly1305: 256 bits).
pub const KEY_LEN: usize = 32;

/// Most keys a ring holds: each frame may be tried against each key.
pub const MAX_KEYS: usize = 8;

/// Largest key file [`Keyring::load`] reads, in bytes (64 KiB).
pub const MAX_KEY_FILE: u64 = 64 * 1024;

/// A 256-bit cluster key. `Debug` never prints the key itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Key, Error> {
        let mut bytes = [0; KEY_LEN];
        crate::random::fill(&mut bytes)?;
        Ok(Key(bytes))
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key(bytes)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Parses the 64 hex digits `hearsay keygen` prints.
    ///
    /// ```
    /// use hearsay_net::Key;
    /// let key = Key::from_hex(&"ab".repeat(32))?;
    /// assert_eq!(key.to_hex(), "ab".repeat(32));
    /// assert!(Key::from_hex("abc").is_err());
    /// assert!(Key::from_hex(&format!("+a{}", "ab".repeat(31))).is_err());
    /// # Ok::<(), hearsay_net::Error>(())
    /// ```
    pub fn from_hex(text: &str) -> Result<Key, Error> {
        let text = text.trim();
        if text.len() != 2 * KEY_LEN {
            return Err(Error::Key(format!(
                "a key is {} hex digits, found {} characters",
                2 * KEY_LEN,
                text.len()
            )));
        }
        // Digits only: `u8::from_str_radix` would also take a sign ("+a").
        let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
        let mut bytes = [0; KEY_LEN];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
            *byte = match (digit(pair[0]), digit(pair[1])) {
                (Some(high), Some(low)) => (high << 4) | low,
                _ => {
                    let shown = String::from_utf8_lossy(pair);
                    return Err(Error::Key(format!("not a hex digit pair: {shown:?}")));
                }
            };
        }
        Ok(Key(bytes))
    }

    /// The key as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// The keys a node accepts; the first is the one it seals with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl Keyring {
    /// A ring of one key.
    pub fn new(primary: Key) -> Keyring {
        Keyring {
            keys: vec![primary],
        }
    }

    /// A ring from keys, the first primary. Fails when empty or over [`MAX_KEYS`]; duplicates are
    /// dropped.
    pub fn from_keys(keys: Vec<Key>) -> Result<Keyring, Error> {
        let mut unique: Vec<Key> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.contains(&key) {
                unique.push(key);
            }
        }
        if unique.is_empty() {
            return Err(Error::Key("the keyring holds no key".into()));
        }
        if unique.len() > MAX_KEYS {
            return Err(Error::Key(format!(
                "a keyring holds at most {MAX_KEYS} keys, found {}",
                unique.len()
            )));
        }
        Ok(Keyring { keys: unique })
    }

    /// Parses a key file: one key per line as 64 hex digits, the first primary; blank lines and
    /// lines starting with `#` are ignored.
    ///
    /// ```
    /// use hearsay_net::Keyring;
    /// let text = format!("# rotated 2026-11-27\n{}\n{}\n", "01".repeat(32), "02".repeat(32));
    /// let ring = Keyring::parse(&text)?;
    /// assert_eq!(ring.len(), 2);
    /// assert_eq!(ring.primary().to_hex(), "01".repeat(32));
    /// # Ok::<(), hearsay_net::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Keyring, Error> {
        let mut keys = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = Key::from_hex(line).map_err(|error| {
                let reason = match error {
                    Error::Key(reason) => reason,
                    other => other.to_string(),
                };
                Error::Key(format!("line {}: {reason}", number + 1))
            })?;
            keys.push(key);
        }
        Keyring::from_keys(keys)
    }

    /// Reads and parses a key file of at most [`MAX_KEY_FILE`] bytes ([`crate::read_bounded`]:
    /// a larger file, or a device that never ends, is refused, never read to its end).
    pub fn load(path: &std::path::Path) -> Result<Keyring, Error> {
        let failed = |reason: String| Error::Key(format!("{}: {reason}", path.display()));
        let bytes =
            crate::read_bounded(path, MAX_KEY_FILE).map_err(|error| failed(error.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| failed("not UTF-8 text".into()))?;
        Keyring::parse(&text).map_err(|error| match error {
            Error::Key(reason) => failed(reason),
            other => failed(other.to_string()),
        })
    }

    /// The key frames are sealed with.
    pub fn primary(&self) -> &Key {
        &self.keys[0]
    }

    /// Every key, primary first.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a ring holds at least one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
