//! [`Inbox`]: how the harness's nodes reach the [`Network`] actor without a mailbox message per
//! datagram.
//!
//! Every datagram of a simulated run used to cross two mailboxes: the sender's link to the
//! network actor, then the network to the receiver. The first hop cost an envelope, a queue node
//! and a task wake-up per datagram (a fifth of `hearsay sim` at 100,000 nodes). The inbox is a
//! plain queue the network actor drains: a link pushes onto it and wakes the network's task, as
//! a mailbox would, and the network takes everything in the order it was pushed, as it took its
//! mailbox. The harness's partitions, heals and fault changes go through the same queue, so they
//! fall between the datagrams exactly where they fell in the mailbox: a run decides, delivers and
//! records the same things in the same order as before (the experiments' outputs are unchanged
//! to the byte).

use super::{BookChange, Cut, Network, Outgoing, Partition, SetFaults};
use actix::Context;
use actix::fut::ActorFuture;
use hearsay_proto::NodeId;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// What reaches the network, in the order it was sent.
#[derive(Debug)]
pub(crate) enum Inbound {
    Outgoing(Outgoing),
    Partition(Partition),
    Cut(Cut),
    Heal,
    SetFaults(SetFaults),
    /// Datagrams reaching the node wait in its receive buffer ([`super::Network`]'s `held`).
    Hold(NodeId),
    /// The node's receive buffer is read (`deliver`: handed to the node, in arrival order) or
    /// lost with its process.
    Release {
        node: NodeId,
        deliver: bool,
    },
    /// A node's address book changes ([`Network::with_address_books`]).
    Book(BookChange),
}

/// A queue into one [`Network`] actor (one thread: the harness's).
#[derive(Clone, Default)]
pub(crate) struct Inbox(Rc<RefCell<Queue>>);

#[derive(Default)]
struct Queue {
    items: VecDeque<Inbound>,
    /// The network's task, once it has run: woken at every push, as its mailbox would wake it.
    waker: Option<Waker>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let waiting = self.0.try_borrow().map(|q| q.items.len()).unwrap_or(0);
        f.debug_struct("Inbox").field("waiting", &waiting).finish()
    }
}

impl Inbox {
    pub(crate) fn push(&self, item: Inbound) {
        let mut queue = self.0.borrow_mut();
        queue.items.push_back(item);
        if let Some(waker) = &queue.waker {
            waker.wake_by_ref();
        }
    }

    fn pop(&self) -> Option<Inbound> {
        self.0.borrow_mut().items.pop_front()
    }

    fn wake_with(&self, waker: &Waker) {
        let mut queue = self.0.borrow_mut();
        if !queue.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            queue.waker = Some(waker.clone());
        }
    }
}

/// The network's reader of its inbox: spawned first, so it runs ahead of the delivery timers
/// in each poll of the actor, where the mailbox ran.
pub(crate) struct Drain;

impl ActorFuture<Network> for Drain {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        network: &mut Network,
        ctx: &mut Context<Network>,
        task: &mut std::task::Context<'_>,
    ) -> Poll<()> {
        network.inbox.wake_with(task.waker());
        while let Some(item) = network.inbox.pop() {
            network.receive(item, ctx);
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::NetworkConfig;
    use crate::{Datagram, NetworkLink, Router, Transport, simulate};
    use actix::{Actor, Handler};
    use hearsay_proto::{MessageKind, NodeId, Transmit};
    use std::time::Duration;

    /// Keeps the payloads it is handed.
    struct Sink(Rc<RefCell<Vec<Vec<u8>>>>);

    impl Actor for Sink {
        type Context = Context<Self>;
    }

    impl Handler<Datagram> for Sink {
        type Result = ();

        fn handle(&mut self, datagram: Datagram, _: &mut Context<Self>) {
            self.0.borrow_mut().push(datagram.payload);
        }
    }

    fn transmit(to: NodeId, payload: u8) -> Transmit {
        Transmit {
            to,
            payload: vec![payload],
            kind: MessageKind::Syn,
            deltas: 0,
            addr: None,
        }
    }

    /// Controls pushed between datagrams act exactly between them, as they did through the
    /// network's mailbox: a datagram sent before a partition crosses it, one sent during it is
    /// cut, one sent after the heal crosses again; all in one virtual instant, before the network
    /// task has run.
    #[test]
    fn controls_fall_between_datagrams_in_push_order() -> Result<(), crate::Error> {
        let got = simulate(|| async {
            let router = Router::new();
            let received = Rc::new(RefCell::new(Vec::new()));
            router.register(NodeId(1), Sink(received.clone()).start().recipient());
            let network = Network::new(NetworkConfig::default(), 7, router);
            let inbox = network.inbox();
            let _running = network.start();
            let mut link = NetworkLink::through(inbox.clone());
            link.send(NodeId(0), transmit(NodeId(1), 1));
            inbox.push(Inbound::Partition(Partition(vec![
                vec![NodeId(0)],
                vec![NodeId(1)],
            ])));
            link.send(NodeId(0), transmit(NodeId(1), 2));
            inbox.push(Inbound::Heal);
            link.send(NodeId(0), transmit(NodeId(1), 3));
            tokio::time::sleep(Duration::from_millis(10)).await;
            received.take()
        })?;
        assert_eq!(got, vec![vec![1], vec![3]]);
        Ok(())
    }

    /// A one-way cut loses one direction only, and the heal ends it.
    #[test]
    fn a_one_way_cut_loses_one_direction_until_the_heal() -> Result<(), crate::Error> {
        let got = simulate(|| async {
            let router = Router::new();
            let (at_0, at_1) = (
                Rc::new(RefCell::new(Vec::new())),
                Rc::new(RefCell::new(Vec::new())),
            );
            router.register(NodeId(0), Sink(at_0.clone()).start().recipient());
            router.register(NodeId(1), Sink(at_1.clone()).start().recipient());
            let network = Network::new(NetworkConfig::default(), 7, router);
            let inbox = network.inbox();
            let _running = network.start();
            let mut link = NetworkLink::through(inbox.clone());
            inbox.push(Inbound::Cut(Cut {
                from: vec![NodeId(0)],
                to: vec![NodeId(1)],
            }));
            link.send(NodeId(0), transmit(NodeId(1), 1));
            link.send(NodeId(1), transmit(NodeId(0), 2));
            inbox.push(Inbound::Heal);
            link.send(NodeId(0), transmit(NodeId(1), 3));
            tokio::time::sleep(Duration::from_millis(10)).await;
            (at_0.take(), at_1.take())
        })?;
        assert_eq!(got, (vec![vec![2]], vec![vec![3]]));
        Ok(())
    }
}
