//! Keys that live for a while: [`Node::set_with_ttl`] writes an entry that its writer deletes
//! once its time is up (chitchat's `set_with_ttl`, a Consul session's ephemeral key): the
//! delete is an ordinary tombstone, so every node that held the entry drops it by the rules of
//! gossip, and nothing about the deadline travels on the wire.

use super::Node;
use super::writes::reserved;
use crate::{Error, Value, Version};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

impl Node {
    /// Writes `value` under `key` at `now`, to be deleted by this node at `now + ttl` (checked
    /// at each gossip round: up to one [`crate::Config::gossip_interval`] later); returns the
    /// version the write got. A later [`Node::set`], [`Node::try_set`] or [`Node::delete`] of the
    /// key ends the deadline, a later `set_with_ttl` replaces it.
    ///
    /// The deadline is the writer's: other nodes drop the entry when its tombstone reaches
    /// them, a gossip round or a few after the deadline. A writer that crashes first leaves the
    /// entry where its other entries stay (with membership, until its member is removed), and
    /// a process restarted from a [`crate::Snapshot`] does not bring the key back (a snapshot
    /// saves the keys still to expire as deletes: what lived for a while does not outlive its
    /// process). The deadline is this node's own key's: another node's write of the same key is
    /// another entry, and a reader that takes the newest write of a key by any node sees the
    /// expiry's delete, newer than what was written before it. Fails as [`Node::set`] does; a
    /// `ttl` of zero deletes the key at the next round, one past what an `Instant` holds never.
    ///
    /// ```
    /// use hearsay_proto::{Config, Generation, Node, NodeId, Value};
    /// use std::time::{Duration, Instant};
    /// let config = Config::default();
    /// let mut node = Node::new(NodeId(1), Generation(1), config.clone(), 7)?;
    /// let start = Instant::now();
    /// node.set_with_ttl(start, "lease", Value::from("held"), Duration::from_secs(10))?;
    /// assert_eq!(node.expires_at("lease"), Some(start + Duration::from_secs(10)));
    /// node.handle_timeout(start + Duration::from_secs(9));
    /// assert_eq!(node.get("lease"), Some(&Value::from("held")));
    /// node.handle_timeout(start + Duration::from_secs(10));
    /// assert_eq!(node.get("lease"), None);
    /// # Ok::<(), hearsay_proto::Error>(())
    /// ```
    pub fn set_with_ttl(
        &mut self,
        now: Instant,
        key: &str,
        value: impl Into<Value>,
        ttl: Duration,
    ) -> Result<Version, Error> {
        reserved(key)?;
        let version = self.write(now, key, Some(value.into()))?;
        match now.checked_add(ttl) {
            Some(deadline) => {
                self.expiring
                    .get_or_insert_with(Box::default)
                    .insert(key.to_owned(), deadline);
            }
            // Past the clock's range: it never comes.
            None => self.forget_expiry(key),
        }
        Ok(version)
    }

    /// When this node deletes its own `key` ([`Node::set_with_ttl`]); `None` for a key written
    /// without a time to live, or not written.
    pub fn expires_at(&self, key: &str) -> Option<Instant> {
        self.expiring.as_ref()?.get(key).copied()
    }

    /// `key` was written or deleted without a time to live: it no longer expires.
    pub(super) fn forget_expiry(&mut self, key: &str) {
        if let Some(keys) = &mut self.expiring {
            keys.remove(key);
            if keys.is_empty() {
                self.expiring = None;
            }
        }
    }

    /// Deletes the own keys whose time is up at `now` (each round).
    pub(super) fn expire_keys(&mut self, now: Instant) {
        let Some(keys) = &mut self.expiring else {
            return;
        };
        let due: Vec<String> = keys
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            self.forget_expiry(&key);
            // A tombstone always fits where the entry did; only exhausted versions fail, and
            // then no write of this incarnation can succeed.
            let _ = self.write(now, &key, None);
        }
    }
}

/// The own keys still to expire and their deadlines (boxed in the node: most nodes have none).
pub(super) type Expiring = BTreeMap<String, Instant>;
