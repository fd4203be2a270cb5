//! Refusing replayed hellos and welcomes of the datagram transport, sans I/O.
//!
//! Gossip datagrams need no such guard: the protocol is idempotent and orders every claim by
//! generation and incarnation. Hellos and welcomes act outside it — a hello puts its sender's
//! address in the receiver's book and draws a welcome; a welcome makes a seed count as
//! answered — so a recording of one, sent again by anyone on the path (no key needed), could
//! put a departed member's address back or make a node stop saying hello to a seed it never
//! reached. Two rules, both on the datagram's authenticated nonce (`random | counter`, a fresh
//! random per sealer and a counter that only rises):
//!
//! - [`HelloWindow`]: a hello is taken only if it is newer than the last one taken from its
//!   sender — a higher generation, another sealer (a new process), or a higher counter — as an
//!   IPsec or DTLS replay window keeps the highest sequence number seen. It outlives the address
//!   book's entry, so the hello of a member since forgotten is not taken again.
//! - [`Awaited`]: a welcome is taken only if it echoes the nonce of a hello its receiver sent
//!   and is still waiting on (a challenge and its response).

use crate::datagram::Nonce;
use hearsay_proto::{Generation, NodeId};
use std::collections::BTreeMap;

/// The newest hello taken from each peer.
#[derive(Clone, Debug, Default)]
pub struct HelloWindow {
    newest: BTreeMap<NodeId, (Generation, Nonce)>,
}

impl HelloWindow {
    /// Most peers remembered; past it the lowest peer id's entry makes room. Only key holders
    /// can add entries (a hello must be authenticated first).
    pub const MAX_PEERS: usize = crate::address_book::MAX_ADDRESSES;

    /// Whether a hello from `from` at `generation` sealed with `nonce` is newer than every hello
    /// taken from `from` before; if so it is remembered as the newest.
    ///
    /// ```
    /// use hearsay_net::datagram::Nonce;
    /// use hearsay_net::replay::HelloWindow;
    /// use hearsay_proto::{Generation, NodeId};
    /// let mut window = HelloWindow::default();
    /// let hello = |counter| Nonce { random: [1; 16], counter };
    /// assert!(window.take(NodeId(7), Generation(1), hello(3)));
    /// assert!(!window.take(NodeId(7), Generation(1), hello(3)), "the same hello again");
    /// assert!(!window.take(NodeId(7), Generation(1), hello(2)), "an older one");
    /// assert!(window.take(NodeId(7), Generation(1), hello(4)));
    /// ```
    pub fn take(&mut self, from: NodeId, generation: Generation, nonce: Nonce) -> bool {
        if let Some(&(held_generation, held)) = self.newest.get(&from) {
            let newer = match generation.cmp(&held_generation) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Less => false,
                // Another sealer of the same generation is another process (a generation
                // reused); within one sealer the counter only rises.
                std::cmp::Ordering::Equal => {
                    nonce.random != held.random || nonce.counter > held.counter
                }
            };
            if !newer {
                return false;
            }
        } else if self.newest.len() >= Self::MAX_PEERS {
            self.newest.pop_first();
        }
        self.newest.insert(from, (generation, nonce));
        true
    }
}

/// The hellos a node has sent to one seed and not yet seen answered, newest last.
#[derive(Clone, Debug, Default)]
pub struct Awaited {
    sent: Vec<Nonce>,
}

impl Awaited {
    /// Hellos waited on at once; an older one's answer is refused after this many more were
    /// sent (hellos go out seconds apart, so an answer that late is lost anyway).
    pub const MAX: usize = 8;

    /// Records a hello sent with `nonce`.
    pub fn sent(&mut self, nonce: Nonce) {
        if self.sent.len() == Self::MAX {
            self.sent.remove(0);
        }
        self.sent.push(nonce);
    }

    /// Whether a welcome echoing `echo` answers a hello waited on; if so nothing more is waited
    /// on (the seed is answered: any later welcome is a duplicate or a replay).
    ///
    /// ```
    /// use hearsay_net::datagram::Nonce;
    /// use hearsay_net::replay::Awaited;
    /// let mut awaited = Awaited::default();
    /// let hello = Nonce { random: [1; 16], counter: 5 };
    /// assert!(!awaited.answered(hello), "nothing sent yet");
    /// awaited.sent(hello);
    /// assert!(awaited.answered(hello));
    /// assert!(!awaited.answered(hello), "answered once");
    /// ```
    pub fn answered(&mut self, echo: Nonce) -> bool {
        if !self.sent.contains(&echo) {
            return false;
        }
        self.sent.clear();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce(random: u8, counter: u64) -> Nonce {
        Nonce {
            random: [random; 16],
            counter,
        }
    }

    #[test]
    fn a_hello_is_taken_once_and_only_while_newest() {
        let mut window = HelloWindow::default();
        let (x, y) = (NodeId(1), NodeId(2));
        assert!(window.take(x, Generation(5), nonce(1, 10)));
        assert!(!window.take(x, Generation(5), nonce(1, 10)));
        assert!(!window.take(x, Generation(5), nonce(1, 9)));
        // Each peer has its own window.
        assert!(window.take(y, Generation(5), nonce(1, 10)));
        // A newer generation is taken whatever its counter; an older one never again.
        assert!(window.take(x, Generation(6), nonce(2, 1)));
        assert!(!window.take(x, Generation(5), nonce(1, 11)));
        // Another sealer of the same generation (a process that reused it) is taken.
        assert!(window.take(x, Generation(6), nonce(3, 1)));
        assert!(!window.take(x, Generation(6), nonce(3, 1)));
        assert!(window.take(x, Generation(6), nonce(3, 2)));
    }

    #[test]
    fn the_window_is_bounded() {
        let mut window = HelloWindow::default();
        for id in 0..HelloWindow::MAX_PEERS as u64 + 10 {
            assert!(window.take(NodeId(id), Generation(1), nonce(1, 1)));
        }
        assert_eq!(window.newest.len(), HelloWindow::MAX_PEERS);
        // The newest entries are kept.
        let last = NodeId(HelloWindow::MAX_PEERS as u64 + 9);
        assert!(!window.take(last, Generation(1), nonce(1, 1)));
    }

    #[test]
    fn a_welcome_counts_only_for_a_hello_waited_on() {
        let mut awaited = Awaited::default();
        for counter in 1..=Awaited::MAX as u64 + 1 {
            awaited.sent(nonce(1, counter));
        }
        // The first hello was pushed out; a welcome echoing another sealer's nonce never counts.
        assert!(!awaited.answered(nonce(1, 1)));
        assert!(!awaited.answered(nonce(2, 2)));
        assert!(awaited.answered(nonce(1, 2)));
        assert!(
            !awaited.answered(nonce(1, 3)),
            "answered: nothing waited on"
        );
    }
}
