//! [`NodeInbox`]: how the in-process [`crate::Router`] hands datagrams to a [`GossipNode`]
//! without a mailbox message per datagram.
//!
//! Through the mailbox, every datagram cost actix an envelope and a queue node (two allocations),
//! the channel's atomic counters, and a virtual call to the handler: at 100,000 nodes, more than
//! the protocol's own work on it. The inbox is a plain queue the node drains from its own task —
//! a router pushes onto it and wakes the task, as the mailbox would, and the node takes the
//! datagrams in the order they were pushed, as it took its mailbox, in the same poll of its task
//! (ahead of its timer). The mailbox still carries everything else (writes, reads, the harness's
//! faults); a node started with [`GossipNode::start_with_inbox`] still takes [`crate::Datagram`]s
//! there too.

use crate::GossipNode;
use crate::messages::Datagram;
use smallvec::SmallVec;
use std::sync::{Arc, Mutex};
use std::task::Waker;

/// Datagrams waiting, the first few in the inbox's own allocation: most polls find one or two.
type Waiting = SmallVec<[Vec<u8>; 2]>;

/// The receiving end of a node's datagrams, for the [`crate::Router`] to push onto
/// ([`GossipNode::start_with_inbox`]). Clones share one queue.
#[derive(Clone, Default)]
pub struct NodeInbox(Arc<Mutex<Queue>>);

#[derive(Default)]
struct Queue {
    waiting: Waiting,
    /// The node's task, once it has run: woken when the queue stops being empty.
    waker: Option<Waker>,
    /// The node's actor stopped: datagrams pushed from now on are dropped, as a stopped
    /// actor's mailbox drops them.
    closed: bool,
}

impl std::fmt::Debug for NodeInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let waiting = self.0.lock().map(|q| q.waiting.len()).unwrap_or(0);
        f.debug_struct("NodeInbox")
            .field("waiting", &waiting)
            .finish()
    }
}

impl NodeInbox {
    /// Queues a datagram's payload for the node; returns whether its actor still runs.
    pub(crate) fn push(&self, payload: Vec<u8>) -> bool {
        let Ok(mut queue) = self.0.lock() else {
            return false;
        };
        if queue.closed {
            return false;
        }
        queue.waiting.push(payload);
        if queue.waiting.len() == 1
            && let Some(waker) = &queue.waker
        {
            waker.wake_by_ref();
        }
        true
    }

    /// Everything waiting, in push order; `waker` is woken at the next push.
    fn take(&self, waker: &Waker) -> Waiting {
        let Ok(mut queue) = self.0.lock() else {
            return Waiting::new();
        };
        if !queue.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            queue.waker = Some(waker.clone());
        }
        std::mem::take(&mut queue.waiting)
    }

    fn close(&self) {
        if let Ok(mut queue) = self.0.lock() {
            queue.closed = true;
            queue.waiting.clear();
            queue.waker = None;
        }
    }
}

/// The node's reader of its inbox, held by its timer future (the one future actix polls after
/// the mailbox in each poll of the actor, where the mailbox's datagrams ran); closes the inbox
/// when the actor stops.
pub(crate) struct InboxReader(NodeInbox);

impl InboxReader {
    pub(crate) fn new(inbox: NodeInbox) -> InboxReader {
        InboxReader(inbox)
    }

    /// Hands the node every datagram waiting; `waker` is woken at the next push.
    pub(crate) fn read(&self, node: &mut GossipNode, waker: &Waker) {
        // One look per poll: a datagram pushed while these are handled (from another thread;
        // in one thread only the node itself could) wakes the task again.
        for payload in self.0.take(waker) {
            node.receive(Datagram {
                payload,
                sender: None,
            });
        }
    }
}

impl Drop for InboxReader {
    fn drop(&mut self) {
        self.0.close();
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
                let (addr, inbox) = GossipNode::new(node, router.clone()).start_with_inbox();
                router.register(NodeId(1), inbox);
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

    /// One route per id: registering a recipient replaces the inbox, registering the inbox
    /// again replaces the recipient, and unregistering leaves none.
    #[test]
    fn a_route_replaces_an_inbox_and_back() -> Result<(), crate::Error> {
        let (rejected, sunk) = simulate(|| async {
            let router = Router::new();
            let sunk = Rc::new(RefCell::new(Vec::new()));
            let node = Node::new(NodeId(4), Generation(1), Config::default(), 7)?;
            let (addr, inbox) = GossipNode::new(node, router.clone()).start_with_inbox();
            router.register(NodeId(4), inbox.clone());
            router.deliver(NodeId(4), vec![0xc1]);
            router.register(NodeId(4), Sink(sunk.clone()).start().recipient());
            router.deliver(NodeId(4), vec![0xc2]);
            router.register(NodeId(4), inbox);
            router.deliver(NodeId(4), vec![0xc3]);
            router.unregister(NodeId(4));
            assert!(!router.deliver(NodeId(4), vec![0xc4]));
            tokio::time::sleep(Duration::from_millis(1)).await;
            let rejected = addr.send(GetMetrics).await?.stats.rejected;
            Ok::<_, crate::Error>((rejected, sunk.take()))
        })??;
        assert_eq!((rejected, sunk), (2, vec![0xc2]));
        Ok(())
    }
}
