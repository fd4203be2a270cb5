//! One reading of a running node, the raw material of every admin endpoint: the node actor's
//! [`Observation`] (counters, member table, suspicion, origins), the links' counters and the
//! links themselves, taken together.

use hearsay_actor::{Observation, Observe};
use hearsay_net::{Counter, Link, NetNode};
use std::time::Instant;

/// A node, its links and their counters at one instant.
#[derive(Clone, Debug)]
pub struct Reading {
    /// When it was taken.
    pub at: Instant,
    /// The node actor's side.
    pub node: Observation,
    /// The links' counters ([`hearsay_net::NetStats`]), indexed as [`Counter::ALL`].
    pub net: [u64; Counter::ALL.len()],
    /// The peers the node reaches, with their link state.
    pub links: Vec<Link>,
}

impl Reading {
    /// Reads `net`: one message to the node actor, one to its transport, and the atomics.
    pub async fn take(net: &NetNode) -> Result<Reading, String> {
        let node = net
            .node()
            .send(Observe)
            .await
            .map_err(|error| format!("the node does not answer: {error}"))?;
        let links = net
            .links()
            .await
            .map_err(|error| format!("the transport does not answer: {error}"))?;
        let stats = net.stats();
        Ok(Reading {
            at: Instant::now(),
            node,
            net: Counter::ALL.map(|counter| stats.get(counter)),
            links,
        })
    }

    /// A link counter's value.
    pub fn counter(&self, counter: Counter) -> u64 {
        self.net[counter as usize]
    }
}
