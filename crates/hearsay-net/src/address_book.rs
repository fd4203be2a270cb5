//! [`AddressBook`]: where each peer of a node is reached, learnt only from authenticated
//! sources (hellos, links, the reserved address key; as a last resort, where an authenticated
//! datagram came from), newest generation first, bounded.

use hearsay_proto::{Generation, NodeId};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Most peers whose address a node keeps (new ones beyond are ignored until some are forgotten).
pub const MAX_ADDRESSES: usize = 65_536;

/// Peer id to its address, with the generation that announced it.
#[derive(Clone, Debug, Default)]
pub struct AddressBook {
    by_id: BTreeMap<NodeId, (Generation, SocketAddr)>,
    /// Addresses outside the book kept as a last resort for sends ([`AddressBook::last_known`])
    /// until the id is learnt again, bounded as the book: those of members forgotten (left or
    /// removed), and where peers the book never held sent from ([`AddressBook::heard_from`]).
    fallback: BTreeMap<NodeId, SocketAddr>,
    /// The generation each member forgotten had when it left or was removed, until a newer one
    /// is learnt ([`AddressBook::departed`]), bounded as the book.
    departed: BTreeMap<NodeId, Generation>,
}

impl AddressBook {
    /// Records that `id` at `generation` is reached at `addr`. An older generation's claim does
    /// not replace a newer one's. Answers whether `id` is news: not in the book before, or held
    /// at an older generation (a new process of it — a peer again, though a removed member's
    /// address is kept).
    ///
    /// ```
    /// use hearsay_net::AddressBook;
    /// use hearsay_proto::{Generation, NodeId};
    /// let mut book = AddressBook::default();
    /// let (old, new) = ("127.0.0.1:1".parse()?, "127.0.0.1:2".parse()?);
    /// assert!(book.learn(NodeId(1), Generation(2), new));
    /// assert!(!book.learn(NodeId(1), Generation(1), old));
    /// assert_eq!(book.get(NodeId(1)), Some(new));
    /// assert!(book.learn(NodeId(1), Generation(3), new), "a newer generation is news");
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn learn(&mut self, id: NodeId, generation: Generation, addr: SocketAddr) -> bool {
        let full = self.by_id.len() >= MAX_ADDRESSES;
        match self.by_id.get_mut(&id) {
            Some(held) => {
                let newer = generation > held.0;
                if generation >= held.0 {
                    *held = (generation, addr);
                }
                newer
            }
            None if !full => {
                self.fallback.remove(&id);
                if self
                    .departed
                    .get(&id)
                    .is_some_and(|&gone| gone < generation)
                {
                    self.departed.remove(&id);
                }
                self.by_id.insert(id, (generation, addr));
                true
            }
            None => false,
        }
    }

    /// Forgets `id` if the book holds it at `generation` or older (a member that left or was
    /// removed; a newer generation of it stays), and remembers that `generation` departed
    /// (whether or not the book held it: after two processes raced for the id, the book may
    /// hold the other one, older, or none).
    pub fn forget(&mut self, id: NodeId, generation: Generation) -> bool {
        if self.by_id.get(&id).is_some_and(|held| held.0 > generation) {
            return false;
        }
        if self.departed.len() >= MAX_ADDRESSES && !self.departed.contains_key(&id) {
            self.departed.pop_first();
        }
        let gone = self.departed.entry(id).or_insert(generation);
        *gone = (*gone).max(generation);
        match self.by_id.remove(&id) {
            Some((_, addr)) => {
                self.keep(id, addr);
                true
            }
            None => false,
        }
    }

    /// The generation `id` had when it was forgotten (it left or was removed), unless the book
    /// holds it again: a process of the id at an older generation is what is left of it.
    ///
    /// ```
    /// use hearsay_net::AddressBook;
    /// use hearsay_proto::{Generation, NodeId};
    /// let mut book = AddressBook::default();
    /// let addr = "127.0.0.1:1".parse()?;
    /// book.learn(NodeId(1), Generation(5), addr);
    /// book.forget(NodeId(1), Generation(5));
    /// assert_eq!(book.departed(NodeId(1)), Some(Generation(5)));
    /// book.learn(NodeId(1), Generation(6), addr);
    /// assert_eq!(book.departed(NodeId(1)), None, "a newer one is back");
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn departed(&self, id: NodeId) -> Option<Generation> {
        if self.by_id.contains_key(&id) {
            return None;
        }
        self.departed.get(&id).copied()
    }

    /// An authenticated datagram from `id` came from `source`: if the book holds no entry for
    /// it, that is where it is answered ([`AddressBook::last_known`]; not a peer for gossip,
    /// nor an entry of the book), replacing any last resort held before — the newest source
    /// wins, so a forgotten member that moved, or a replay sent from elsewhere, is corrected
    /// by the member's next datagram. A node reached by a peer it never learnt — its address
    /// entry lost, or dropped with a removal before it arrived — can then answer it, and a
    /// removed member hears of its removal.
    ///
    /// ```
    /// use hearsay_net::AddressBook;
    /// use hearsay_proto::NodeId;
    /// let mut book = AddressBook::default();
    /// let source = "127.0.0.1:1".parse()?;
    /// book.heard_from(NodeId(1), source);
    /// assert_eq!(book.get(NodeId(1)), None);
    /// assert_eq!(book.last_known(NodeId(1)), Some(source));
    /// let moved = "127.0.0.1:2".parse()?;
    /// book.heard_from(NodeId(1), moved);
    /// assert_eq!(book.last_known(NodeId(1)), Some(moved), "the newest source wins");
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn heard_from(&mut self, id: NodeId, source: SocketAddr) {
        if !self.by_id.contains_key(&id) {
            self.keep(id, source);
        }
    }

    /// Keeps `addr` as `id`'s last resort; when full, the lowest id's goes.
    fn keep(&mut self, id: NodeId, addr: SocketAddr) {
        if self.fallback.len() >= MAX_ADDRESSES && !self.fallback.contains_key(&id) {
            self.fallback.pop_first();
        }
        self.fallback.insert(id, addr);
    }

    /// Where to send to `id`: its address, or else the one it had when it was forgotten — a
    /// member removed behind a partition that outlasted the removal speaks again, and must be
    /// answered to hear of its removal (and come back as a new generation) — or where it last
    /// sent from ([`AddressBook::heard_from`]).
    ///
    /// ```
    /// use hearsay_net::AddressBook;
    /// use hearsay_proto::{Generation, NodeId};
    /// let mut book = AddressBook::default();
    /// let addr = "127.0.0.1:1".parse()?;
    /// book.learn(NodeId(1), Generation(1), addr);
    /// book.forget(NodeId(1), Generation(1));
    /// assert_eq!(book.get(NodeId(1)), None);
    /// assert_eq!(book.last_known(NodeId(1)), Some(addr));
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn last_known(&self, id: NodeId) -> Option<SocketAddr> {
        self.get(id).or_else(|| self.fallback.get(&id).copied())
    }

    /// The generation of `id` the book holds (the newest announced).
    pub fn generation(&self, id: NodeId) -> Option<Generation> {
        self.by_id.get(&id).map(|held| held.0)
    }

    /// Where `id` is reached.
    pub fn get(&self, id: NodeId) -> Option<SocketAddr> {
        self.by_id.get(&id).map(|held| held.1)
    }

    /// Every entry, by id.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, Generation, SocketAddr)> + '_ {
        self.by_id.iter().map(|(&id, &(g, addr))| (id, g, addr))
    }

    /// Peers in the book.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
