//! An application's own actor, for the "test your app" guide (docs/testing-your-app.md): a service
//! registry that keeps, from its gossip node's changes, which instances of each service are
//! registered on members that are alive.
//!
//! Each instance is a key `svc/<service>` in its node's own origin, valued with its address. The
//! registry subscribes to the node's key changes under `svc/` and to its membership changes, and
//! answers [`Lookup`] with the addresses of the instances whose member is neither Down, Left nor
//! Removed. It uses only hearsay's public actor API.

#![allow(dead_code)] // each including target uses its part of it

use actix::{Actor, Context, Handler, Message};
use hearsay::actor::{KeyChanged, MemberChanged};
use hearsay::proto::{Generation, MemberStatus, NodeId};
use std::collections::BTreeMap;

/// The key prefix of service instances.
pub const PREFIX: &str = "svc/";

/// The registry of one application process.
#[derive(Debug, Default)]
pub struct Registry {
    /// Per service, per member: the instance's address.
    instances: BTreeMap<String, BTreeMap<NodeId, String>>,
    /// Per member: the newest generation heard of, and its status.
    members: BTreeMap<NodeId, (Generation, MemberStatus)>,
}

impl Actor for Registry {
    type Context = Context<Self>;
}

impl Handler<KeyChanged> for Registry {
    type Result = ();

    fn handle(&mut self, changed: KeyChanged, _: &mut Context<Self>) {
        let Some(service) = changed.key.strip_prefix(PREFIX) else {
            return;
        };
        let instances = self.instances.entry(service.to_owned()).or_default();
        match changed.value {
            Some(address) => {
                let address = String::from_utf8_lossy(address.as_bytes()).into_owned();
                instances.insert(changed.origin, address);
            }
            None => {
                instances.remove(&changed.origin);
            }
        }
    }
}

impl Handler<MemberChanged> for Registry {
    type Result = ();

    fn handle(&mut self, changed: MemberChanged, _: &mut Context<Self>) {
        let known = self
            .members
            .entry(changed.member)
            .or_insert((changed.generation, changed.status));
        // News of an older incarnation says nothing of the current one.
        if changed.generation >= known.0 {
            *known = (changed.generation, changed.status);
        }
    }
}

/// Asks a [`Registry`] for the addresses of a service's live instances, sorted.
#[derive(Message, Debug)]
#[rtype(result = "Vec<String>")]
pub struct Lookup(pub &'static str);

impl Handler<Lookup> for Registry {
    type Result = Vec<String>;

    fn handle(&mut self, Lookup(service): Lookup, _: &mut Context<Self>) -> Vec<String> {
        let alive = |member: &NodeId| {
            !self.members.get(member).is_some_and(|(_, status)| {
                matches!(
                    status,
                    MemberStatus::Down | MemberStatus::Left | MemberStatus::Removed
                )
            })
        };
        let mut found: Vec<String> = self
            .instances
            .get(service)
            .into_iter()
            .flatten()
            .filter(|(member, _)| alive(member))
            .map(|(_, address)| address.clone())
            .collect();
        found.sort();
        found
    }
}
