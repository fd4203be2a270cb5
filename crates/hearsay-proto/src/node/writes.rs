//! Local writes: `set`, `try_set`, `delete`, and the checks that a write fits in one message
//! and does not use a key reserved for the protocol.

use super::Node;
use super::mongering::empty_rumor;
use crate::membership;
use crate::size::{ARRAY_GROWTH, encoded_len};
use crate::{Body, Delta, Error, Event, Generation, NodeId, OriginDelta, Value, Version, Via};
use std::time::Instant;

impl Node {
    /// Writes `value` under `key` at `now`; returns the version the write got.
    ///
    /// Fails with [`Error::EntryTooLarge`] if the entry could never fit in one message, and with
    /// [`Error::ReservedKey`] for a key reserved for the protocol ([`membership::RESERVED_PREFIX`]).
    pub fn set(
        &mut self,
        now: Instant,
        key: &str,
        value: impl Into<Value>,
    ) -> Result<Version, Error> {
        reserved(key)?;
        self.write_lasting(now, key, Some(value.into()))
    }

    /// Writes `value` under `key` at `now` if flow control allows a write (always, without flow
    /// control); returns `None` when the write was refused, for the application to retry later.
    pub fn try_set(
        &mut self,
        now: Instant,
        key: &str,
        value: impl Into<Value>,
    ) -> Result<Option<Version>, Error> {
        reserved(key)?;
        if !self.spend_token() {
            return Ok(None);
        }
        self.write_lasting(now, key, Some(value.into())).map(Some)
    }

    /// Deletes `key` at `now` (writes a tombstone); returns the version the delete got.
    pub fn delete(&mut self, now: Instant, key: &str) -> Result<Version, Error> {
        reserved(key)?;
        self.write_lasting(now, key, None)
    }

    /// An application's write without a time to live: it ends any deadline the key had
    /// ([`Node::set_with_ttl`]).
    fn write_lasting(
        &mut self,
        now: Instant,
        key: &str,
        value: Option<Value>,
    ) -> Result<Version, Error> {
        let version = self.write(now, key, value)?;
        self.forget_expiry(key);
        Ok(version)
    }

    /// Writes `value` (`None`: a tombstone) under `key` of this node's own origin, heats it as a
    /// rumor and reports it; every local write, reserved entries included, goes through here.
    ///
    /// A write does not depend on `now`: a tombstone is dated by the next round, when it enters
    /// the GC grace period. `now` is taken so that every input carries its time.
    pub(super) fn write(
        &mut self,
        now: Instant,
        key: &str,
        value: Option<Value>,
    ) -> Result<Version, Error> {
        self.write_as(now, key, value, None)
    }

    /// [`Node::write`] at `version` when given (an own entry carried into a new generation by
    /// [`Node::restart`], at the version it had), else at the next Lamport version.
    pub(super) fn write_as(
        &mut self,
        now: Instant,
        key: &str,
        value: Option<Value>,
        version: Option<Version>,
    ) -> Result<Version, Error> {
        let _ = now;
        self.check_fits(key, value.as_ref())?;
        let prev = self.own_max_version();
        let previous = self.store.get(self.id, key).cloned();
        let version = match version {
            Some(version) => {
                let entry = crate::Entry {
                    version,
                    value: value.clone(),
                };
                self.store.write_at(self.id, self.generation, key, entry);
                version
            }
            None => self
                .store
                .write(self.id, self.generation, key, value.clone())?,
        };
        if self.config.mode.rumors() {
            self.rumors
                .heat(self.id, key, self.generation, (prev, version), self.round);
            self.unrelayed.get_or_insert(version);
        }
        if value.is_none() && self.config.tombstone_grace.is_some() {
            self.tombstones.push_back((version, None));
        }
        self.events.push_back(Event::Changed {
            change: crate::Change {
                origin: self.id,
                generation: self.generation,
                key: key.to_owned(),
                entry: crate::Entry { version, value },
                previous,
            },
            via: Via::Local,
        });
        Ok(version)
    }

    /// The highest version this node's own origin holds (zero before its first write).
    pub(super) fn own_max_version(&self) -> Version {
        self.store
            .origin(self.id)
            .map_or(Version::ZERO, |o| o.max_version())
    }

    /// Checks that a key is not longer than [`crate::Config::max_key_len`] and that the entry, with
    /// every header at its widest, fits alone in each kind of message that carries deltas, as the
    /// packer charges it.
    fn check_fits(&self, key: &str, value: Option<&Value>) -> Result<(), Error> {
        let (limit, max_key) = (self.config.mtu, self.config.max_key_len());
        if key.len() > max_key {
            return Err(Error::EntryTooLarge {
                size: key.len() * 3 + (limit - max_key * 3),
                limit,
                key: key.len(),
                max_key,
            });
        }
        let header = OriginDelta {
            origin: NodeId(u64::MAX),
            generation: Generation(u64::MAX),
            heartbeat: u64::MAX,
            from: Version(u64::MAX),
            to: Version(u64::MAX),
            deltas: Vec::new(),
        };
        let delta = Delta {
            key: key.to_owned(),
            version: Version(u64::MAX),
            value: value.cloned(),
        };
        let needed = encoded_len(&header) + ARRAY_GROWTH + encoded_len(&delta);
        let carriers = [
            Body::SynAck {
                deltas: Vec::new(),
                digest: Some(self.empty_digest()),
            },
            Body::Ack { deltas: Vec::new() },
            empty_rumor(),
        ];
        for body in &carriers {
            let room = self.budget(body).bytes;
            if needed > room {
                return Err(Error::EntryTooLarge {
                    size: needed + (limit - room),
                    limit,
                    key: key.len(),
                    max_key,
                });
            }
        }
        Ok(())
    }
}

/// Refuses local writes of keys reserved for the protocol.
pub(super) fn reserved(key: &str) -> Result<(), Error> {
    if membership::is_reserved(key) {
        return Err(Error::ReservedKey(key.to_owned()));
    }
    Ok(())
}
