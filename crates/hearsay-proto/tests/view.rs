//! HyParView partial views on a round-based driver: bounded views, a connected overlay, repair
//! after crashes, determinism.

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
        self.views[index].join(NodeId(contact as u64));
        self.collect(index);
        self.deliver();
    }

    fn round(&mut self) {
        for index in 0..self.views.len() {
            if self.dead.contains(&index) {
                continue;
            }
            self.views[index].tick(&mut self.rng);
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
        let live = self.live();
        let n = self.views.len();
        let mut adjacency = vec![Vec::new(); n];
        for &i in &live {
            for peer in self.views[i].active() {
                let j = peer.0 as usize;
                if !self.dead.contains(&j) {
                    adjacency[i].push(j);
                    adjacency[j].push(i);
                }
            }
        }
        let mut seen = vec![false; n];
        let mut stack = vec![live[0]];
        seen[live[0]] = true;
        let mut reached = 1;
        while let Some(i) = stack.pop() {
            for &j in &adjacency[i] {
                if !seen[j] {
                    seen[j] = true;
                    reached += 1;
                    stack.push(j);
                }
            }
        }
        reached == live.len()
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
    let mut overlay = Overlay::new(n, ViewConfig::default(), seed);
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

#[test]
fn overlay_heals_after_a_fifth_of_the_nodes_crash() {
    let mut overlay = built(1_000, 11);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    while overlay.dead.len() < 200 {
        overlay.dead.insert(rng.random_range(0..1_000));
    }
    let suspect_after = ViewConfig::default().suspect_after as usize;
    for _ in 0..suspect_after + 10 {
        overlay.round();
    }
    for i in overlay.live() {
        let view = &overlay.views[i];
        assert!(
            view.active()
                .iter()
                .all(|p| !overlay.dead.contains(&(p.0 as usize))),
            "node {i} still has a crashed active peer"
        );
        assert!(!view.active().is_empty(), "node {i} has no active peer");
    }
    assert!(overlay.connected());
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
