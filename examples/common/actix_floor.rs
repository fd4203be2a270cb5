//! The raw-actix floor for the 100,000-actor runs: the same number of actors exchanging the same
//! number of messages of the same mean size through their mailboxes, with no protocol at all —
//! what one current-thread actix `System` costs for the traffic alone (issue 15 measures hearsay
//! against it, as a ratio taken in the same run).
//!
//! Each actor, on a datagram, counts it and sends a fresh `Vec<u8>` of the mean size to a peer
//! drawn at random (seeded), as a gossip node answers or forwards; every actor starts one such
//! chain, and the system stops when `messages` datagrams have been handled.

use actix::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// One datagram: a buffer, as the in-process router carries it.
#[derive(Message)]
#[rtype(result = "()")]
struct Datagram(Vec<u8>);

/// What every actor shares (one thread): the mailboxes, the seeded RNG and the count so far.
struct Shared {
    peers: RefCell<Vec<Recipient<Datagram>>>,
    rng: RefCell<ChaCha8Rng>,
    handled: Cell<u64>,
    messages: u64,
    size: usize,
}

struct Peer {
    shared: Rc<Shared>,
}

impl Actor for Peer {
    type Context = Context<Self>;
}

impl Handler<Datagram> for Peer {
    type Result = ();

    fn handle(&mut self, datagram: Datagram, _: &mut Context<Self>) {
        let shared = &self.shared;
        std::hint::black_box(&datagram.0);
        drop(datagram);
        let handled = shared.handled.get() + 1;
        shared.handled.set(handled);
        if handled == shared.messages {
            System::current().stop();
            return;
        }
        // Keep as many datagrams in flight as there are actors, until the total is sent.
        let peers = shared.peers.borrow();
        let to = shared.rng.borrow_mut().random_range(0..peers.len());
        peers[to].do_send(Datagram(vec![0x5a; shared.size]));
    }
}

/// Runs `messages` datagrams of `size` bytes among `actors` actors in one current-thread actix
/// `System`; returns the wall time, actor start-up included.
pub fn actix_floor(actors: usize, messages: u64, size: usize, seed: u64) -> Duration {
    let started = Instant::now();
    let system = System::new();
    system.block_on(async move {
        let shared = Rc::new(Shared {
            peers: RefCell::new(Vec::with_capacity(actors)),
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(seed)),
            handled: Cell::new(0),
            messages: messages.max(1),
            size,
        });
        let recipients: Vec<Recipient<Datagram>> = (0..actors)
            .map(|_| {
                Peer {
                    shared: shared.clone(),
                }
                .start()
                .recipient()
            })
            .collect();
        *shared.peers.borrow_mut() = recipients;
        for peer in shared.peers.borrow().iter() {
            peer.do_send(Datagram(vec![0x5a; size]));
        }
    });
    // `block_on` returned once the start-up was queued; the system runs until the last datagram.
    let _ = system.run();
    started.elapsed()
}
