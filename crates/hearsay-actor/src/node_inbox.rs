//! A node's inbox: how the in-process [`Router`] hands datagrams to a
//! [`GossipNode`](crate::GossipNode) started with [`Router::start`], without a mailbox message
//! per datagram.
//!
//! Through the mailbox, every datagram cost actix an envelope and a queue node (two allocations),
//! the channel's atomic counters and a virtual call to the handler: at 100,000 nodes, a fifth of
//! the wall time (`docs/performance.md`, session 34). The inbox is a plain queue in the router's
//! table that the node drains from its own task: the router pushes onto it and wakes the task, as
//! the mailbox would, and the node takes the datagrams in the order they were pushed, as it took
//! its mailbox, in its timer future — the one future actix polls after the mailbox in each poll
//! of the actor. The mailbox still carries everything else (writes, reads, the harness's faults)
//! and takes [`Datagram`](crate::Datagram)s too.

use crate::transport::Router;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

/// Bytes of small payloads a slot keeps in itself: what fills its two cache lines besides the
/// queue's bookkeeping. A payload of up to [`INLINE`] − 1 bytes (most anti-entropy digests) is
/// copied in, a length byte before it, and its buffer freed at once by the sender, while still
/// in the sender's cache; the node then reads it from the line it takes its queue from, not
/// from a buffer written long before (at 100,000 nodes, two cache misses a datagram fewer,
/// and the sender's next buffer is the one it just freed).
const INLINE: usize = 74;

/// One node's inbox, in the [`Router`]'s table (a slab indexed by node id: delivery reads one
/// place, where a pointer to a queue of its own would cost a second cache miss per datagram).
/// Two cache lines, aligned to them: no slot straddles a third.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct Slot(Mutex<Queue>);

#[derive(Default)]
struct Queue {
    /// The node's task, once it has run: woken when the queue stops being empty.
    waker: Option<Waker>,
    /// Payloads waiting after those in [`Queue::inline`], in push order (a payload too long
    /// to copy in, and every one pushed after it until the node takes them).
    spilled: Vec<Vec<u8>>,
    /// Which node's inbox this is: bumped whenever the id is routed anew, so that a reader of
    /// an earlier node under the id takes nothing and closes nothing.
    ticket: u32,
    /// A node reads it; datagrams pushed to a closed slot are dropped, as a stopped actor's
    /// mailbox drops them.
    open: bool,
    inline: Inline,
}

/// Small payloads waiting, each a length byte and its bytes, in push order.
#[derive(Clone, Copy)]
pub(crate) struct Inline {
    used: u8,
    bytes: [u8; INLINE],
}

impl Default for Inline {
    fn default() -> Inline {
        Inline {
            used: 0,
            bytes: [0; INLINE],
        }
    }
}

impl Inline {
    /// Copies `payload` in, if it fits.
    fn push(&mut self, payload: &[u8]) -> bool {
        let at = usize::from(self.used);
        let end = at + 1 + payload.len();
        let (Ok(len), Ok(used)) = (u8::try_from(payload.len()), u8::try_from(end)) else {
            return false;
        };
        if end > INLINE {
            return false;
        }
        self.bytes[at] = len;
        self.bytes[at + 1..end].copy_from_slice(payload);
        self.used = used;
        true
    }

    fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// The payloads, in push order.
    pub(crate) fn payloads(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = &self.bytes[..usize::from(self.used)];
        std::iter::from_fn(move || {
            let (&len, tail) = rest.split_first()?;
            let (payload, after) = tail.split_at_checked(usize::from(len))?;
            rest = after;
            Some(payload)
        })
    }
}

/// What a node takes from its inbox in one look: the small payloads, copied out of the slot,
/// then the others.
#[derive(Default)]
pub(crate) struct Waiting {
    pub(crate) inline: Inline,
    pub(crate) spilled: Vec<Vec<u8>>,
}

impl Waiting {
    pub(crate) fn is_empty(&self) -> bool {
        self.inline.is_empty() && self.spilled.is_empty()
    }

    /// The payloads, in push order.
    pub(crate) fn payloads(&self) -> impl Iterator<Item = &[u8]> {
        self.inline
            .payloads()
            .chain(self.spilled.iter().map(Vec::as_slice))
    }
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.inline.is_empty() && self.spilled.is_empty()
    }
}

impl Slot {
    /// The queue, poisoned or not: every change to it is one step, so it is whole either way
    /// (a panic under the lock, in a waker say, must not leave the id unroutable for good).
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn queue_mut(&mut self) -> &mut Queue {
        self.0.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens the slot for a new reader; answers its ticket.
    pub(crate) fn open(&mut self) -> u32 {
        self.reset(true)
    }

    /// Closes the slot (the id is routed elsewhere, or to nobody): what waits is dropped, as a
    /// stopped actor's mailbox drops it.
    pub(crate) fn close(&mut self) {
        self.reset(false);
    }

    /// A new ticket, nothing waiting (a spilled buffer freed), no waker.
    fn reset(&mut self, open: bool) -> u32 {
        let queue = self.queue_mut();
        queue.ticket = queue.ticket.wrapping_add(1);
        queue.open = open;
        queue.inline = Inline::default();
        queue.spilled = Vec::new();
        queue.waker = None;
        queue.ticket
    }

    pub(crate) fn is_open(&self) -> bool {
        self.queue().open
    }

    /// Queues a datagram's payload (copied into the slot when it is small and nothing longer
    /// waits before it); hands it back when no node reads the slot. The node's task is woken
    /// when the queue stops being empty (under the lock: the task only runs later).
    pub(crate) fn push(&self, payload: Vec<u8>) -> Result<(), Vec<u8>> {
        let mut queue = self.queue();
        if !queue.open {
            return Err(payload);
        }
        let was_empty = queue.is_empty();
        if !(queue.spilled.is_empty() && queue.inline.push(&payload)) {
            queue.spilled.push(payload);
        }
        if was_empty && let Some(waker) = &queue.waker {
            waker.wake_by_ref();
        }
        Ok(())
    }

    /// Everything waiting for the reader holding `ticket`, in push order; `waker` is woken at
    /// the next push. Nothing for a reader whose ticket has passed.
    pub(crate) fn take(&self, ticket: u32, waker: &Waker) -> Waiting {
        let mut queue = self.queue();
        if queue.ticket != ticket {
            return Waiting::default();
        }
        if !queue.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            queue.waker = Some(waker.clone());
        }
        // A copy of the bytes in use, and the slot's own emptied by its count alone.
        let inline = queue.inline;
        queue.inline.used = 0;
        Waiting {
            inline,
            spilled: std::mem::take(&mut queue.spilled),
        }
    }

    /// Closes the slot if `ticket` still holds it (its reader stopped).
    pub(crate) fn close_for(&mut self, ticket: u32) {
        if self.queue_mut().ticket == ticket {
            self.close();
        }
    }
}

/// A node's reader of its inbox slot, held by the node (16 bytes: it sits on the line every
/// input reads); closes the slot when the actor stops.
pub(crate) struct InboxReader {
    router: Router,
    at: u32,
    ticket: u32,
}

impl InboxReader {
    /// The reader of the slot at `at` (an id below 2^22) holding `ticket`.
    pub(crate) fn new(router: Router, at: u32, ticket: u32) -> InboxReader {
        InboxReader { router, at, ticket }
    }

    /// Everything waiting, in push order; `waker` is woken at the next push. One look per
    /// poll: a datagram pushed while these are handled (from another thread; in one thread
    /// only the node itself could) wakes the task again.
    pub(crate) fn take(&self, waker: &Waker) -> Waiting {
        self.router.take(self.at as usize, self.ticket, waker)
    }
}

impl Drop for InboxReader {
    fn drop(&mut self) {
        self.router.close_inbox(self.at as usize, self.ticket);
    }
}

#[cfg(test)]
mod tests {
    use crate::{Datagram, GetMetrics, GossipNode, Router, simulate};
    use actix::{Actor, Context, Handler};
    use hearsay_proto::{Config, Generation, Node, NodeId};
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    /// Payloads come out in push order, the small ones copied into the slot and the others
    /// (and every one after the first of them) behind them; a closed slot hands them back.
    #[test]
    fn payloads_come_out_in_push_order_whatever_their_size() {
        use super::{INLINE, Slot};
        let mut slot = Slot::default();
        let ticket = slot.open();
        let pushed: Vec<Vec<u8>> = vec![
            vec![1; 10],
            vec![],
            vec![2; INLINE - 1 - 12],
            vec![3; 1],
            vec![4; INLINE],
            vec![5; 3],
        ];
        for payload in &pushed {
            assert!(slot.push(payload.clone()).is_ok());
        }
        let waiting = slot.take(ticket, std::task::Waker::noop());
        let inline: Vec<Vec<u8>> = waiting.inline.payloads().map(<[u8]>::to_vec).collect();
        // The first three fill the slot to the byte; the fourth would not fit, and spills.
        assert_eq!(inline, pushed[..3]);
        assert_eq!(waiting.spilled, pushed[3..]);
        let again = slot.take(ticket, std::task::Waker::noop());
        assert_eq!(again.inline.payloads().count() + again.spilled.len(), 0);
        assert!(slot.push(vec![6; INLINE - 1]).is_ok());
        let one = slot.take(ticket, std::task::Waker::noop());
        assert_eq!(
            one.inline.payloads().collect::<Vec<_>>(),
            [&[6; INLINE - 1][..]]
        );
        assert!(one.spilled.is_empty());
        // A reader whose ticket has passed takes nothing, and leaves what waits to the holder.
        assert!(slot.push(vec![8; 2]).is_ok());
        assert!(slot.push(vec![9; INLINE]).is_ok());
        assert!(slot.take(ticket + 1, std::task::Waker::noop()).is_empty());
        let kept = slot.take(ticket, std::task::Waker::noop());
        assert_eq!(
            kept.payloads().collect::<Vec<_>>(),
            [&[8; 2][..], &[9; INLINE][..]]
        );
        slot.close();
        assert_eq!(slot.push(vec![7]), Err(vec![7]));
    }

    /// A slot is two cache lines (on Linux, where `Mutex` is a futex word): no slot of the table
    /// straddles a third.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_slot_is_two_cache_lines() {
        assert_eq!(std::mem::size_of::<super::Slot>(), 128);
        assert_eq!(std::mem::align_of::<super::Slot>(), 128);
    }

    /// Starts node `id` with its first round an hour away; once this returns, its task has
    /// run and waits.
    async fn start_waiting(
        router: &Router,
        id: u64,
    ) -> Result<actix::Addr<GossipNode>, crate::Error> {
        let node = Node::new(NodeId(id), Generation(1), Config::default(), 7)?;
        let node =
            GossipNode::new(node, router.clone()).with_first_round_after(Duration::from_secs(3600));
        let addr = router.start(node);
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(addr)
    }

    /// Payloads too long for the slot reach the node too, with short ones before and after
    /// them, and one pushed to a node that took its last batch and waits wakes it.
    #[test]
    fn long_payloads_reach_a_waiting_node_with_short_ones() -> Result<(), crate::Error> {
        let rejected = simulate(|| async {
            let router = Router::new();
            let addr = start_waiting(&router, 3).await?;
            for len in [10, 80, 3] {
                assert!(router.deliver(NodeId(3), vec![0xc1; len]));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            let first = addr.send(GetMetrics).await?.stats.rejected;
            assert!(router.deliver(NodeId(3), vec![0xc1; 200]));
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok::<_, crate::Error>((first, addr.send(GetMetrics).await?.stats.rejected))
        })??;
        assert_eq!(rejected, (3, 4));
        Ok(())
    }

    /// Keeps the first byte of every datagram it is handed.
    struct Sink(Rc<RefCell<Vec<u8>>>);

    impl Actor for Sink {
        type Context = Context<Self>;
    }

    impl Handler<Datagram> for Sink {
        type Result = ();

        fn handle(&mut self, datagram: Datagram, _: &mut Context<Self>) {
            self.0.borrow_mut().extend(datagram.payload.first());
        }
    }

    /// Datagrams routed to an inbox reach the node (garbage is counted as rejected, one by
    /// one); once the node's actor is gone, the router says so and keeps nothing.
    #[test]
    fn datagrams_reach_the_node_through_its_inbox_until_it_stops() -> Result<(), crate::Error> {
        let router = Router::new();
        let rejected = simulate(|| {
            let router = router.clone();
            async move {
                let node = Node::new(NodeId(1), Generation(1), Config::default(), 7)?;
                let addr = router.start(GossipNode::new(node, router.clone()));
                let delivered = (0..3)
                    .filter(|_| router.deliver(NodeId(1), vec![0xc1]))
                    .count();
                assert_eq!(delivered, 3);
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok::<_, crate::Error>(addr.send(GetMetrics).await?.stats.rejected)
            }
        })??;
        assert_eq!(rejected, 3);
        assert!(!router.deliver(NodeId(1), vec![0xc1]), "the node is gone");
        Ok(())
    }

    /// One route per id: registering a recipient replaces the inbox, starting a node under
    /// the id again gives it a fresh inbox (the earlier node takes nothing more, and its end
    /// closes nothing), and unregistering leaves none.
    #[test]
    fn a_route_replaces_an_inbox_and_back() -> Result<(), crate::Error> {
        let (rejected, sunk) = simulate(|| async {
            let router = Router::new();
            let sunk = Rc::new(RefCell::new(Vec::new()));
            let start = || -> Result<_, crate::Error> {
                let node = Node::new(NodeId(4), Generation(1), Config::default(), 7)?;
                Ok(router.start(GossipNode::new(node, router.clone())))
            };
            let first = start()?;
            router.deliver(NodeId(4), vec![0xc1]);
            // Datagrams still waiting when the id is routed anew are dropped with the inbox.
            tokio::time::sleep(Duration::from_millis(1)).await;
            router.register(NodeId(4), Sink(sunk.clone()).start().recipient());
            router.deliver(NodeId(4), vec![0xc2]);
            let second = start()?;
            router.deliver(NodeId(4), vec![0xc3]);
            router.deliver(NodeId(4), vec![0xc3]);
            tokio::time::sleep(Duration::from_millis(1)).await;
            let rejected = (
                first.send(GetMetrics).await?.stats.rejected,
                second.send(GetMetrics).await?.stats.rejected,
            );
            router.unregister(NodeId(4));
            assert!(!router.deliver(NodeId(4), vec![0xc4]));
            Ok::<_, crate::Error>((rejected, sunk.take()))
        })??;
        assert_eq!((rejected, sunk), ((1, 2), vec![0xc2]));
        Ok(())
    }

    /// A datagram pushed to a node that already ran and waits (its first round an hour away)
    /// wakes its task: the garbage is counted before the metrics are asked for. With the wake
    /// lost, the node would run only for the `GetMetrics`, and answer it first (0).
    #[test]
    fn a_push_wakes_a_waiting_node() -> Result<(), crate::Error> {
        let rejected = simulate(|| async {
            let router = Router::new();
            let addr = start_waiting(&router, 2).await?;
            assert!(router.deliver(NodeId(2), vec![0xc1]));
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok::<_, crate::Error>(addr.send(GetMetrics).await?.stats.rejected)
        })??;
        assert_eq!(rejected, 1);
        Ok(())
    }

    /// Ids the slab does not take — past 2^22, or so far past the table's end that it would
    /// grow by millions of empty slots — go through the mailbox, and still arrive.
    #[test]
    fn far_ids_are_started_on_their_mailbox() -> Result<(), crate::Error> {
        let rejected = simulate(|| async {
            let router = Router::new();
            let mut addrs = Vec::new();
            for id in [1 << 40, (1 << 22) - 1, 0] {
                let node = Node::new(NodeId(id), Generation(1), Config::default(), 7)?;
                addrs.push(router.start(GossipNode::new(node, router.clone())));
                assert!(router.deliver(NodeId(id), vec![0xc1]), "id {id}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            let mut rejected = Vec::new();
            for addr in &addrs {
                rejected.push(addr.send(GetMetrics).await?.stats.rejected);
            }
            let table = format!("{router:?}");
            Ok::<_, crate::Error>((rejected, table))
        })??;
        assert_eq!(rejected.0, vec![1, 1, 1]);
        assert!(rejected.1.contains("routes: 3"), "{}", rejected.1);
        Ok(())
    }

    /// A node under an id started anew elsewhere: when the first one's actor stops (its arbiter
    /// ends), its reader closes nothing — the second keeps the id's inbox.
    #[test]
    fn an_earlier_node_stopping_leaves_the_id_to_the_later() -> Result<(), crate::Error> {
        let rejected = simulate(|| async {
            let router = Router::new();
            let arbiter = actix::Arbiter::new();
            let (started, on_start) = tokio::sync::oneshot::channel();
            let first = router.clone();
            arbiter.spawn_fn(move || {
                let node = Node::new(NodeId(5), Generation(1), Config::default(), 7);
                let _ = started.send(node.map(|node| {
                    first.start(GossipNode::new(node, first.clone()));
                }));
            });
            on_start
                .await
                .map_err(|e| crate::Error::Runtime(e.to_string()))??;
            let node = Node::new(NodeId(5), Generation(2), Config::default(), 7)?;
            let later = router.start(GossipNode::new(node, router.clone()));
            arbiter.stop();
            let _ = tokio::task::spawn_blocking(move || arbiter.join()).await;
            assert!(
                router.deliver(NodeId(5), vec![0xc1]),
                "the later node's inbox"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok::<_, crate::Error>(later.send(GetMetrics).await?.stats.rejected)
        })??;
        assert_eq!(rejected, 1);
        Ok(())
    }
}
