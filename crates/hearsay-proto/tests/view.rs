//! HyParView partial views on a round-based driver: bounded views, a connected overlay, repair
//! after crashes and after partitions, determinism.

use hearsay_proto::{NodeId, View, ViewConfig, ViewMessage};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeSet, VecDeque};

/// N views; messages delivered FIFO within a round; dead nodes drop what they receive.
struct Overlay {
    views: Vec<View>,
    dead: BTreeSet<usize>,
    rng: ChaCha8Rng,
    queue: VecDeque<(NodeId, NodeId, ViewMessage)>,
    messages: u64,
    /// Each node's side while the network is split (messages across are lost).
    sides: Option<Vec<usize>>,
    /// Whether each view may fall back on a random node of the cluster (the static membership a
    /// runtime gives it), or knows nothing besides its views.
    known: bool,
}

impl Overlay {
    fn new(n: usize, config: ViewConfig, seed: u64) -> Overlay {
        Overlay {
            views: (0..n as u64)
                .map(|i| View::new(NodeId(i), config.clone()).expect("valid"))
                .collect(),
            dead: BTreeSet::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            queue: VecDeque::new(),
            messages: 0,
            sides: None,
            known: true,
        }
    }

    /// A copy of the overlay in its present state.
    fn clone_views(&self) -> Overlay {
        Overlay {
            views: self.views.clone(),
            dead: self.dead.clone(),
            rng: self.rng.clone(),
            queue: self.queue.clone(),
            messages: self.messages,
            sides: self.sides.clone(),
            known: self.known,
        }
    }

    fn collect(&mut self, index: usize) {
        let from = NodeId(index as u64);
        while let Some((to, message)) = self.views[index].poll_message() {
            self.queue.push_back((from, to, message));
        }
    }

    fn deliver(&mut self) {
        while let Some((from, to, message)) = self.queue.pop_front() {
            self.messages += 1;
            let to = to.0 as usize;
            if self.dead.contains(&to) || to >= self.views.len() {
                continue;
            }
            if let Some(sides) = &self.sides
                && sides[from.0 as usize] != sides[to]
            {
                continue;
            }
            self.views[to].handle_message(from, message, &mut self.rng);
            self.collect(to);
        }
    }

    /// Node `index` joins through a random live node below it.
    fn join(&mut self, index: usize) {
        let contact = loop {
            let pick = self.rng.random_range(0..index);
            if !self.dead.contains(&pick) {
                break pick;
            }
        };
        self.views[index].join(NodeId(contact as u64), &mut self.rng);
        self.collect(index);
        self.deliver();
    }

    fn round(&mut self) {
        for index in 0..self.views.len() {
            if self.dead.contains(&index) {
                continue;
            }
            // What a membership table offers: a random node not known dead.
            let (n, known, dead) = (self.views.len(), self.known, &self.dead);
            self.views[index].tick(&mut self.rng, |rng| {
                if !known {
                    return None;
                }
                let live = n - dead.len();
                let pick = (0..n)
                    .filter(|i| !dead.contains(i))
                    .nth(rng.random_range(0..live));
                pick.map(|i| NodeId(i as u64))
            });
            self.collect(index);
        }
        self.deliver();
    }

    fn live(&self) -> Vec<usize> {
        (0..self.views.len())
            .filter(|i| !self.dead.contains(i))
            .collect()
    }

    /// Whether the live nodes' active views, taken as undirected edges, form one component.
    fn connected(&self) -> bool {
        self.components() == 1
    }

    /// How many components the live nodes' active views form, taken as undirected edges.
    fn components(&self) -> usize {
        self.components_of(&self.live())
    }

    /// [`Overlay::components`] of the live nodes that hold an active peer (a view may empty for
    /// a moment between a peer's departure and its repair).
    fn linked_components(&self) -> usize {
        let linked: Vec<usize> = self
            .live()
            .into_iter()
            .filter(|&i| !self.views[i].active().is_empty())
            .collect();
        self.components_of(&linked)
    }

    fn components_of(&self, live: &[usize]) -> usize {
        let n = self.views.len();
        let mut adjacency = vec![Vec::new(); n];
        for &i in live {
            for peer in self.views[i].active() {
                let j = peer.0 as usize;
                if live.contains(&j) {
                    adjacency[i].push(j);
                    adjacency[j].push(i);
                }
            }
        }
        let mut seen = vec![false; n];
        let mut components = 0;
        for &start in live {
            if seen[start] {
                continue;
            }
            components += 1;
            seen[start] = true;
            let mut stack = vec![start];
            while let Some(i) = stack.pop() {
                for &j in &adjacency[i] {
                    if !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        components
    }

    fn symmetric_fraction(&self) -> f64 {
        let (mut edges, mut symmetric) = (0, 0);
        for i in self.live() {
            for peer in self.views[i].active() {
                edges += 1;
                if self.views[peer.0 as usize]
                    .active()
                    .contains(&NodeId(i as u64))
                {
                    symmetric += 1;
                }
            }
        }
        symmetric as f64 / edges.max(1) as f64
    }
}

fn built(n: usize, seed: u64) -> Overlay {
    built_with(n, ViewConfig::default(), seed)
}

fn built_with(n: usize, config: ViewConfig, seed: u64) -> Overlay {
    let mut overlay = Overlay::new(n, config, seed);
    for index in 1..n {
        overlay.join(index);
    }
    for _ in 0..30 {
        overlay.round();
    }
    overlay
}

#[test]
fn views_stay_bounded_and_the_overlay_connected() {
    let overlay = built(1_000, 7);
    let config = ViewConfig::default();
    for view in &overlay.views {
        assert!(!view.active().is_empty());
        assert!(view.active().len() <= config.active);
        assert!(view.passive().len() <= config.passive);
        assert!(view.active().is_disjoint(view.passive()));
    }
    assert!(overlay.connected());
    let symmetric = overlay.symmetric_fraction();
    assert!(
        symmetric > 0.95,
        "only {symmetric:.3} of active edges are symmetric"
    );
    // Passive views fill up through shuffles (the paper's assumption for repair).
    let mean_passive = overlay
        .views
        .iter()
        .map(|v| v.passive().len())
        .sum::<usize>() as f64
        / overlay.views.len() as f64;
    assert!(
        mean_passive > 0.8 * config.passive as f64,
        "passive views {mean_passive:.1}"
    );
}

/// Views replace crashed peers: once silence has told (`suspect_after` rounds), no live node
/// holds a crashed peer, none stays without an active peer longer than one repair takes (a
/// view may empty for a moment when its last peers leave it at once), and the nodes that hold
/// peers form one overlay.
#[test]
fn overlay_heals_after_a_fifth_of_the_nodes_crash() {
    let mut overlay = built(1_000, 11);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    while overlay.dead.len() < 200 {
        overlay.dead.insert(rng.random_range(0..1_000));
    }
    let config = ViewConfig::default();
    for _ in 0..=config.suspect_after {
        overlay.round();
    }
    let repair = config.ping_every as usize + 1;
    let mut empty_for = vec![0usize; 1_000];
    for _ in 0..30 {
        overlay.round();
        for i in overlay.live() {
            let view = &overlay.views[i];
            assert!(
                view.active()
                    .iter()
                    .all(|p| !overlay.dead.contains(&(p.0 as usize))),
                "node {i} still has a crashed active peer"
            );
            empty_for[i] = if view.active().is_empty() {
                empty_for[i] + 1
            } else {
                0
            };
            assert!(
                empty_for[i] <= repair,
                "node {i} has had no active peer for {} rounds",
                empty_for[i]
            );
        }
        assert_eq!(overlay.linked_components(), 1);
    }
}

/// Splits `overlay` in two halves for `rounds` rounds, heals, and returns the rounds after the
/// heal until the overlay is one component again (`None` if not within `limit`).
fn split_and_heal(overlay: &mut Overlay, rounds: usize, limit: usize) -> Option<usize> {
    let n = overlay.views.len();
    overlay.sides = Some((0..n).map(|i| i % 2).collect());
    for _ in 0..rounds {
        overlay.round();
    }
    assert!(
        !overlay.connected(),
        "the split left cross links: the test shows nothing"
    );
    overlay.sides = None;
    (1..=limit).find(|_| {
        overlay.round();
        overlay.connected()
    })
}

/// After a long partition the two halves' views hold mostly their own side; once the network
/// heals, the live nodes' active views form one overlay again.
#[test]
fn an_overlay_split_by_a_partition_joins_again_after_the_heal() {
    let mut overlay = built(200, 13);
    let healed = split_and_heal(&mut overlay, 200, 200);
    assert!(healed.is_some(), "still split 200 rounds after the heal");
}

/// The same split, with nodes that know nobody outside their views (no membership, no peer list:
/// a networked node with views): backups left from before the split, and the walks and shuffles
/// they send through the nodes they joined through, join the two halves again.
#[test]
fn an_overlay_split_by_a_partition_joins_again_through_the_contacts() {
    let mut overlay = built(200, 13);
    overlay.known = false;
    let healed = split_and_heal(&mut overlay, 200, 200);
    assert!(healed.is_some(), "still split 200 rounds after the heal");
}

/// A node whose active and passive views emptied (every peer silent under a partition) gets
/// back in once the network heals: through a node it knows of, and, knowing none, through the
/// walks of node 1, which joined through it (node 0 never joined: it has no contact of its own).
/// Before either existed, HyParView left it alone for good.
#[test]
fn a_node_whose_views_emptied_gets_back_in() {
    // Small views, as a small cluster may configure (the fault search's seed 19: active 4,
    // passive 4): the others' passive views soon forget the silent node.
    let config = ViewConfig {
        active: 4,
        passive: 4,
        ..ViewConfig::default()
    };
    let mut overlay = built_with(20, config.clone(), 17);
    // Node 0 alone on its side long enough to drop every active peer and try every backup.
    overlay.sides = Some((0..20).map(|i| usize::from(i != 0)).collect());
    for _ in
        0..config.suspect_after as usize + (config.passive + 2) * (config.ping_every as usize + 2)
    {
        overlay.round();
    }
    assert!(overlay.views[0].active().is_empty());
    assert!(overlay.views[0].passive().is_empty());
    let mut unknowing = overlay.clone_views();
    unknowing.known = false;
    for overlay in [&mut overlay, &mut unknowing] {
        overlay.sides = None;
        for _ in 0..100 {
            overlay.round();
        }
        assert!(
            !overlay.views[0].active().is_empty(),
            "known nodes {}: node 0 is still alone",
            overlay.known
        );
        assert_eq!(overlay.linked_components(), 1);
    }
}

/// Joins cut by a partition (the fault search's seed 10683: a split 65 ms after the start, while
/// the joins were in flight) leave cliques that know only each other — every backup, every
/// shuffle and, with membership, every member they hear of is on their own side. They form one
/// overlay after the heal, through nodes the runtime knows of and, knowing none, through the
/// contacts whose joins the partition cut (before views kept their contacts, they never did).
#[test]
fn cliques_left_by_a_partition_during_the_joins_join_up_after_the_heal() {
    let run = |known: bool| {
        let mut overlay = Overlay::new(30, ViewConfig::default(), 23);
        overlay.known = known;
        overlay.sides = Some((0..30).map(|i| i % 3).collect());
        for index in 1..30 {
            overlay.join(index);
        }
        for _ in 0..100 {
            overlay.round();
        }
        assert!(overlay.components() >= 3, "the joins crossed the partition");
        overlay.sides = None;
        (1..=200).find(|_| {
            overlay.round();
            overlay.connected()
        })
    };
    for known in [true, false] {
        let healed = run(known);
        assert!(
            healed.is_some(),
            "known nodes {known}: still apart 200 rounds after the heal"
        );
    }
}

/// A node whose join was lost (its contact cut off by a partition at that moment) and that knows
/// nobody else — partial views without membership over a network, where the runtime lists no
/// peers — gets in through its contact once the network heals (the fault search's seed 32,
/// with seed peers).
#[test]
fn a_node_whose_join_was_lost_gets_in_through_its_contact() {
    let config = ViewConfig::default();
    let mut overlay = Overlay::new(20, config.clone(), 29);
    overlay.known = false;
    for index in 1..19 {
        overlay.join(index);
    }
    for _ in 0..20 {
        overlay.round();
    }
    // Node 19 joins through node 0 while a partition cuts it off from everyone.
    overlay.sides = Some((0..20).map(|i| usize::from(i == 19)).collect());
    overlay.views[19].join(NodeId(0), &mut overlay.rng);
    overlay.collect(19);
    overlay.deliver();
    for _ in 0..config.suspect_after as usize + 10 {
        overlay.round();
    }
    assert!(overlay.views[19].active().is_empty());
    assert!(overlay.views[19].passive().is_empty());
    assert!(
        overlay
            .views
            .iter()
            .all(|view| !view.active().contains(&NodeId(19))
                && !view.passive().contains(&NodeId(19))),
        "the join got through: the test shows nothing"
    );
    overlay.sides = None;
    let joined = (1..=4 * config.ping_every as usize + 4).find(|_| {
        overlay.round();
        overlay.connected()
    });
    assert!(joined.is_some(), "node 19 is still alone after the heal");
}

/// The contacts a view keeps are bounded: the latest [`hearsay_proto::MAX_CONTACTS`] it joined
/// through, each once.
#[test]
fn a_view_keeps_its_latest_contacts() {
    let mut view = View::new(NodeId(0), ViewConfig::default()).expect("valid");
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let last = hearsay_proto::MAX_CONTACTS as u64 + 5;
    for contact in 1..=last {
        view.join(NodeId(contact), &mut rng);
        view.join(NodeId(contact), &mut rng);
    }
    while view.poll_message().is_some() {}
    // Every peer went silent: the view walks from its contacts, never from one it joined through
    // before the last MAX_CONTACTS.
    let mut asked = BTreeSet::new();
    for _ in 0..400 {
        view.tick(&mut rng, |_| None);
        while let Some((to, message)) = view.poll_message() {
            if matches!(
                message,
                ViewMessage::ForwardJoin {
                    joiner: NodeId(0),
                    ..
                }
            ) {
                asked.insert(to.0);
            }
        }
    }
    let expected: BTreeSet<u64> = (last + 1 - hearsay_proto::MAX_CONTACTS as u64..=last).collect();
    assert_eq!(asked, expected);
}

/// A node whose active view is full of a clique and which knows nobody outside its views sends,
/// every fourth rotation, a shuffle through the node it joined through, so that the clique's
/// passive views come to hold the rest of the cluster.
#[test]
fn a_node_that_knows_nobody_outside_shuffles_through_its_contact() {
    let config = ViewConfig::default();
    let mut view = View::new(NodeId(0), config.clone()).expect("valid");
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    view.join(NodeId(100), &mut rng);
    while view.poll_message().is_some() {}
    // The contact turned it away; a clique took it in.
    view.handle_message(NodeId(100), ViewMessage::Disconnect, &mut rng);
    for peer in 1..=config.active as u64 {
        view.handle_message(NodeId(peer), ViewMessage::Link { addr: None }, &mut rng);
    }
    let mut through_contact = 0;
    let rounds = u64::from(config.shuffle_every) * hearsay_proto::OUTSIDE_EVERY * 3;
    for _ in 0..rounds {
        // The clique keeps talking.
        for peer in 1..=config.active as u64 {
            view.heard(NodeId(peer));
        }
        view.tick(&mut rng, |_| None);
        while let Some((to, message)) = view.poll_message() {
            if to == NodeId(100) && matches!(message, ViewMessage::Shuffle { .. }) {
                through_contact += 1;
            }
        }
    }
    assert_eq!(view.active().len(), config.active, "the clique held");
    assert_eq!(
        through_contact, 3,
        "one shuffle through the contact per fourth rotation"
    );
}

#[test]
fn same_seed_same_views() {
    let (a, b) = (built(300, 5), built(300, 5));
    let c = built(300, 6);
    let views = |o: &Overlay| -> Vec<(Vec<NodeId>, Vec<NodeId>)> {
        o.views
            .iter()
            .map(|v| {
                (
                    v.active().iter().copied().collect(),
                    v.passive().iter().copied().collect(),
                )
            })
            .collect()
    };
    assert_eq!(views(&a), views(&b));
    assert_ne!(views(&a), views(&c));
}

#[test]
fn bad_view_configs_are_refused() {
    let bad = [
        ViewConfig {
            active: 0,
            ..ViewConfig::default()
        },
        ViewConfig {
            passive_walk: 9,
            ..ViewConfig::default()
        },
        ViewConfig {
            suspect_after: 2,
            ..ViewConfig::default()
        },
        ViewConfig {
            shuffle_every: 0,
            ..ViewConfig::default()
        },
    ];
    for config in bad {
        assert!(View::new(NodeId(0), config).is_err());
    }
}

/// Joining through more contacts than the active view holds (a runtime joins through every seed
/// that answers, and again after forgetting one) keeps the view at its bound: each contact
/// past it disconnects a random active peer, which moves to the passive view. Before session
/// 27 every join added its contact without evicting anyone, and the view only grew.
#[test]
fn joins_through_many_contacts_keep_the_active_view_bounded() {
    let config = ViewConfig::default();
    let mut view = View::new(NodeId(0), config.clone()).expect("valid");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let contacts = 3 * config.active as u64;
    let mut disconnected = BTreeSet::new();
    for contact in 1..=contacts {
        view.join(NodeId(contact), &mut rng);
        assert!(view.active().len() <= config.active, "{:?}", view.active());
        assert!(view.active().contains(&NodeId(contact)));
        while let Some((to, message)) = view.poll_message() {
            if message == ViewMessage::Disconnect {
                disconnected.insert(to);
            }
        }
    }
    assert_eq!(view.active().len(), config.active);
    assert_eq!(disconnected.len(), contacts as usize - config.active);
    for peer in &disconnected {
        assert!(view.passive().contains(peer), "{peer:?} dropped, not kept");
    }
}

/// A node with empty views whose caller names, as the node to ask from outside the views, one
/// that never answers (a peer its runtime lists but cannot address) walks from its contact after
/// the first unanswered request, and goes on alternating. Before session 27 it asked that one
/// node every other round forever (the fault search's seed 385823).
#[test]
fn an_outsider_that_never_answers_is_followed_by_a_walk_from_the_contact() {
    let config = ViewConfig::default();
    let mut view = View::new(NodeId(0), config.clone()).expect("valid");
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    view.join(NodeId(100), &mut rng);
    while view.poll_message().is_some() {}
    // The contact turned it away: views empty, the contact left to walk from.
    view.handle_message(NodeId(100), ViewMessage::Disconnect, &mut rng);
    let (mut asked, mut walks) = (0, 0);
    for _ in 0..(4 * config.ping_every as usize + 8) * 4 {
        view.tick(&mut rng, |_| Some(NodeId(5)));
        while let Some((to, message)) = view.poll_message() {
            match message {
                ViewMessage::Neighbor { .. } if to == NodeId(5) => asked += 1,
                ViewMessage::ForwardJoin {
                    joiner: NodeId(0), ..
                } if to == NodeId(100) => walks += 1,
                _ => {}
            }
        }
    }
    assert!(asked >= 2, "the outsider asked {asked} times");
    assert!(
        walks >= 2,
        "{walks} walks from the contact, {asked} requests to the outsider"
    );
}

/// The views report the peers they drop for silence (`View::take_silent`), the evidence a node's
/// failure detector checks: every crashed node is reported (by some of the live nodes that held
/// it active: others demote it to their passive view first, to make room, and drop it later from
/// there), and no live node is reported in a network that loses nothing. Before
/// session 30 the views dropped them unreported, and a node whose detector probed only its
/// views' members (until session 32) never probed a crashed member again (fault-search seed
/// 392762).
#[test]
fn the_views_report_the_peers_they_drop_for_silence() {
    let mut overlay = built(50, 30);
    for view in &mut overlay.views {
        view.take_silent();
    }
    let crashed: BTreeSet<usize> = [3, 17, 29, 41].into();
    let held: BTreeSet<(usize, usize)> = (overlay.live().into_iter())
        .filter(|i| !crashed.contains(i))
        .flat_map(|i| {
            (overlay.views[i].active().iter())
                .map(move |p| (i, p.0 as usize))
                .collect::<Vec<_>>()
        })
        .filter(|(_, p)| crashed.contains(p))
        .collect();
    assert!(!held.is_empty());
    overlay.dead.extend(crashed.iter().copied());
    let mut reported = BTreeSet::new();
    for _ in 0..=2 * ViewConfig::default().suspect_after {
        overlay.round();
        for i in overlay.live() {
            for peer in overlay.views[i].take_silent() {
                reported.insert((i, peer.0 as usize));
            }
        }
    }
    assert!(
        reported.iter().all(|(_, p)| crashed.contains(p)),
        "a live node reported silent: {reported:?}"
    );
    for &(_, gone) in &held {
        assert!(
            reported.iter().any(|&(_, p)| p == gone),
            "node {gone} was held active, and never reported: {reported:?}"
        );
    }
}
