//! The raw-actix floor for the 100,000-actor runs: the same number of actors exchanging the same
//! number of messages of the same mean size through their mailboxes, with no protocol at all —
//! what one current-thread actix `System` costs for the traffic alone (issue 15 measures hearsay
//! against it, as a ratio taken in the same run).
//!
//! Each actor, on a datagram, counts it and sends a fresh `Vec<u8>` of the mean size to a peer
//! drawn at random (seeded), as a gossip node answers or forwards; every actor starts one such
//! chain, and the system stops when `messages` datagrams have been handled.
//!
//! [`rounds_floor`] adds what any round-based gossip node has besides its traffic: a timer per
//! actor firing once a (virtual) second, each firing starting a chain of datagrams, so that the
//! same `messages` leave from `rounds` rounds of every actor — the floor with the rounds' timers
//! in, on the paused clock the harness runs on.

use actix::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// One datagram: a buffer, as the in-process router carries it, and `hops` more sends to go
/// after this one in its chain.
#[derive(Message)]
#[rtype(result = "()")]
struct Datagram {
    payload: Vec<u8>,
    hops: u64,
}

/// What every actor shares (one thread): the mailboxes, the seeded RNG and the counts so far.
struct Shared {
    peers: RefCell<Vec<Recipient<Datagram>>>,
    rng: RefCell<ChaCha8Rng>,
    handled: Cell<u64>,
    messages: u64,
    size: usize,
    /// [`rounds_floor`]: timer firings so far, over all actors, and in all (T); the k-th firing
    /// starts a chain of `⌊(k+1)·M/T⌋ − ⌊k·M/T⌋` datagrams, so that the T firings send exactly M.
    fired: Cell<u64>,
    firings: u64,
}

impl Shared {
    fn new(actors: usize, messages: u64, size: usize, seed: u64, firings: u64) -> Rc<Shared> {
        Rc::new(Shared {
            peers: RefCell::new(Vec::with_capacity(actors)),
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(seed)),
            handled: Cell::new(0),
            messages: messages.max(1),
            size,
            fired: Cell::new(0),
            firings: firings.max(1),
        })
    }

    /// Starts `actors` actors (each with a once-a-second timer when `ticking`).
    fn start(self: &Rc<Shared>, actors: usize, ticking: bool) {
        let recipients: Vec<Recipient<Datagram>> = (0..actors)
            .map(|_| {
                Peer {
                    shared: self.clone(),
                    ticking,
                }
                .start()
                .recipient()
            })
            .collect();
        *self.peers.borrow_mut() = recipients;
    }

    /// Sends a fresh datagram to a peer drawn at random.
    fn send(&self, hops: u64) {
        let peers = self.peers.borrow();
        let to = self.rng.borrow_mut().random_range(0..peers.len());
        peers[to].do_send(Datagram {
            payload: vec![0x5a; self.size],
            hops,
        });
    }
}

struct Peer {
    shared: Rc<Shared>,
    ticking: bool,
}

impl Actor for Peer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if !self.ticking {
            return;
        }
        ctx.run_interval(Duration::from_secs(1), |peer, _| {
            // The system stops within the last round, when the last chain ends.
            let shared = &peer.shared;
            let k = shared.fired.get();
            shared.fired.set(k + 1);
            let share = |k: u64| {
                (u128::from(k) * u128::from(shared.messages) / u128::from(shared.firings)) as u64
            };
            let chain = share(k + 1) - share(k);
            if chain > 0 {
                shared.send(chain - 1);
            }
        });
    }
}

impl Handler<Datagram> for Peer {
    type Result = ();

    fn handle(&mut self, datagram: Datagram, _: &mut Context<Self>) {
        let shared = &self.shared;
        std::hint::black_box(&datagram.payload);
        drop(datagram.payload);
        let handled = shared.handled.get() + 1;
        shared.handled.set(handled);
        if handled == shared.messages {
            System::current().stop();
            return;
        }
        if datagram.hops > 0 {
            shared.send(datagram.hops - 1);
        }
    }
}

/// Runs `messages` datagrams of `size` bytes among `actors` actors in one current-thread actix
/// `System`; returns the wall time, actor start-up included.
pub fn actix_floor(actors: usize, messages: u64, size: usize, seed: u64) -> Duration {
    let started = Instant::now();
    let system = System::new();
    system.block_on(async move {
        let shared = Shared::new(actors, messages, size, seed, 1);
        shared.start(actors, false);
        // Keep as many datagrams in flight as there are actors, until the total is sent.
        for _ in 0..actors {
            shared.send(u64::MAX);
        }
    });
    // `block_on` returned once the start-up was queued; the system runs until the last datagram.
    let _ = system.run();
    started.elapsed()
}

/// Runs `rounds` rounds of `actors` actors on the harness's paused clock, every actor's timer
/// firing once a virtual second and the firings starting chains of `messages` datagrams of
/// `size` bytes in all; returns the wall time, start-up included.
pub fn rounds_floor(actors: usize, rounds: u64, messages: u64, size: usize, seed: u64) -> Duration {
    let started = Instant::now();
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
    else {
        return Duration::ZERO;
    };
    let system = System::with_tokio_rt(move || runtime);
    system.block_on(async move {
        Shared::new(actors, messages, size, seed, actors as u64 * rounds).start(actors, true);
    });
    let _ = system.run();
    started.elapsed()
}
