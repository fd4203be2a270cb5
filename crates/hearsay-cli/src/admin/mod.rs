//! The admin listener of `hearsay node --admin ADDR`: HTTP endpoints for operators and
//! orchestrators, off unless asked for.
//!
//! | path | answer |
//! |---|---|
//! | `/metrics` | Prometheus text ([`metrics`]) |
//! | `/health` | 200 once joined, 503 while joining or leaving ([`health`]), JSON |
//! | `/members` | JSON: the member table with last heartbeats, the links, and the partial views (`null` without) |
//! | `/state` | JSON: everything the node reports — counters, members, origins, links |
//! | `/series` | JSON: the last five minutes of traffic and convergence, one sample a second |
//! | `/` | the status page ([`page`]): members and a live plot |
//!
//! The server is axum on the node's own tokio runtime; handlers read the node through its
//! actor ([`reading`]), so a slow or broken HTTP client costs the node nothing but a message.

pub mod health;
pub mod history;
pub mod metrics;
pub mod page;
pub mod reading;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use health::Readiness;
use hearsay_net::{Counter as NetCounter, NetNode};
use hearsay_proto::Generation;
use history::History;
use reading::Reading;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the admin listener knows of the node besides readings.
#[derive(Clone, Debug)]
pub struct Info {
    /// `datagram` or `stream`.
    pub transport: &'static str,
    /// Whether membership runs (`--membership` or a preset).
    pub membership: bool,
    /// Whether the node was given seeds: a node without is ready at once.
    pub expects_peers: bool,
    /// The gossip round interval.
    pub interval: Duration,
}

/// Requests within this long of a reading share it: however many requests arrive, the node
/// actor, whose mailbox gossip shares, answers at most a few readings a second.
pub const READING_REUSED_FOR: Duration = Duration::from_millis(200);

/// The state shared by the handlers and the sampler.
pub struct Admin {
    net: Arc<NetNode>,
    info: Info,
    stopping: AtomicBool,
    history: Mutex<History>,
    /// The last reading the handlers took (held across the read: one at a time).
    last: tokio::sync::Mutex<Option<Reading>>,
    /// Whether the node has joined (heard from another node) at some reading: once joined it
    /// stays ready until it stops, whatever its peers' statuses do since.
    joined: AtomicBool,
    /// The superseded notices counted at the last reading, and when that count last grew with
    /// the generation the node ran then.
    superseded: Mutex<(u64, Option<(Instant, Generation)>)>,
}

impl Admin {
    /// The admin state of `net`.
    pub fn new(net: Arc<NetNode>, info: Info) -> Arc<Admin> {
        let history = History::new(Instant::now(), info.interval);
        Arc::new(Admin {
            net,
            info,
            stopping: AtomicBool::new(false),
            history: Mutex::new(history),
            last: tokio::sync::Mutex::new(None),
            joined: AtomicBool::new(false),
            superseded: Mutex::new((0, None)),
        })
    }

    /// Marks the node as stopping: `/health` answers 503 from now on.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn history(&self) -> MutexGuard<'_, History> {
        // A panic while holding the lock leaves a history that is still consistent enough to
        // read: every update replaces whole values.
        self.history
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A reading at most [`READING_REUSED_FOR`] old (a fresh one, its heartbeats tracked, if
    /// the last is older).
    async fn read(&self) -> Result<Reading, Response> {
        let mut last = self.last.lock().await;
        if let Some(reading) = last.as_ref()
            && reading.at.elapsed() < READING_REUSED_FOR
        {
            return Ok(reading.clone());
        }
        let reading = Reading::take(&self.net)
            .await
            .map_err(|error| (StatusCode::SERVICE_UNAVAILABLE, error).into_response())?;
        self.history().track(&reading);
        self.note_joined(&reading);
        *last = Some(reading.clone());
        Ok(reading)
    }

    /// Latches `joined` once a reading shows the node heard from another. Every reading does
    /// it, the sampler's included (session 31: only `/health` and `/metrics` did, so a node whose
    /// `/health` was first read after its peers died answered 503 "joining").
    fn note_joined(&self, reading: &Reading) {
        if Readiness::heard_from_another(reading) {
            self.joined.store(true, Ordering::Relaxed);
        }
    }

    fn readiness(&self, reading: &Reading) -> Readiness {
        self.note_joined(reading);
        Readiness::decide(
            self.joined.load(Ordering::Relaxed),
            self.info.expects_peers,
            self.stopping.load(Ordering::Relaxed),
            self.superseded_lately(reading),
        )
    }

    /// Whether the reading's superseded notices grew within [`health::SUPERSEDED_FOR`] and the
    /// node still runs the generation it ran then (a node that moved above the other
    /// incarnation — what was left of the id — is back in service at once).
    fn superseded_lately(&self, reading: &Reading) -> bool {
        let count = reading.counter(NetCounter::Superseded);
        let generation = reading.node.metrics.generation;
        let mut seen = self
            .superseded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if count > seen.0 {
            *seen = (count, Some((reading.at, generation)));
        }
        seen.1.is_some_and(|(grew, then)| {
            generation <= then && reading.at.duration_since(grew) < health::SUPERSEDED_FOR
        })
    }

    /// Takes a reading every [`history::SAMPLE_EVERY`] for `/series`, until the node stops.
    pub async fn sample(self: Arc<Admin>) {
        let mut every = tokio::time::interval(history::SAMPLE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match Reading::take(&self.net).await {
                Ok(reading) => {
                    self.note_joined(&reading);
                    self.history().record(&reading);
                }
                // The node is gone: the process is ending.
                Err(_) => return,
            }
        }
    }
}

/// Binds the admin listener (before the node starts, so that a taken port stops the process
/// before it joins anything).
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| format!("--admin {addr}: cannot listen: {error}"))
}

/// Serves the admin endpoints on `listener` from tasks on the current runtime (nothing
/// awaited), and starts the sampler; answers the bound address.
pub fn serve(listener: tokio::net::TcpListener, admin: Arc<Admin>) -> Result<SocketAddr, String> {
    let bound = listener
        .local_addr()
        .map_err(|error| format!("--admin: {error}"))?;
    tokio::spawn(admin.clone().sample());
    tokio::spawn(accept(listener, router(admin)));
    tracing::info!(addr = %bound, "admin listening");
    Ok(bound)
}

/// Most admin connections held at once; a new one past them closes the oldest.
pub const MAX_CONNECTIONS: usize = 64;
/// A request's headers must arrive within this of the connection's start (or of the previous
/// response), else the connection is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// No connection is held longer than this (a scraper that keeps its connection reconnects).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// A connection held this long may be closed for a new one when every slot is taken.
pub const EVICTABLE_AFTER: Duration = Duration::from_secs(1);

/// Accepts admin connections and serves each from a task of its own, with the bounds above.
/// (Session 26: `axum::serve` set no timer, so hyper's header timeout never ran, and it took any
/// number of connections: slow or idle clients held descriptors for good, and enough of them
/// left the node none for its own sockets and files.) With every slot taken, a new connection
/// closes the oldest, if it is older than [`EVICTABLE_AFTER`], instead of waiting in the backlog
/// (session 31: 200 idle connections made a probe wait for three 5 s header timeouts): a client
/// that sends its request at once is answered however many others sit idle, and the idle ones
/// hold no more descriptors than before. A request younger than that (a scrape being answered)
/// is not cut short: the new connection is closed instead.
async fn accept(listener: tokio::net::TcpListener, app: Router) {
    let mut held =
        std::collections::VecDeque::<(std::time::Instant, tokio::task::AbortHandle)>::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of descriptors, typically: pause instead of spinning.
                tracing::warn!(%error, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        held.retain(|(_, task)| !task.is_finished());
        if held.len() >= MAX_CONNECTIONS {
            match held.front() {
                Some((since, _)) if since.elapsed() >= EVICTABLE_AFTER => {
                    if let Some((_, oldest)) = held.pop_front() {
                        oldest.abort();
                    }
                }
                _ => {
                    drop(stream);
                    continue;
                }
            }
        }
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let task = tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
        });
        held.push_back((std::time::Instant::now(), task.abort_handle()));
    }
}

/// The routes.
fn router(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/", get(page::serve))
        .route("/metrics", get(serve_metrics))
        .route("/health", get(serve_health))
        .route("/members", get(serve_members))
        .route("/state", get(serve_state))
        .route("/series", get(serve_series))
        .with_state(admin)
}

/// `/metrics`: OpenMetrics text to a scraper whose `Accept` names it (Prometheus), the classic
/// Prometheus text format to everyone else.
async fn serve_metrics(State(admin): State<Arc<Admin>>, headers: HeaderMap) -> Response {
    let reading = match admin.read().await {
        Ok(reading) => reading,
        Err(response) => return response,
    };
    let readiness = admin.readiness(&reading);
    let text = metrics::render(&admin.info, &reading, &admin.history(), readiness);
    let Ok(text) = text else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "encoding failed").into_response();
    };
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("application/openmetrics-text"));
    if openmetrics {
        ([(header::CONTENT_TYPE, metrics::OPENMETRICS)], text).into_response()
    } else {
        let text = metrics::classic(&text);
        ([(header::CONTENT_TYPE, metrics::CLASSIC)], text).into_response()
    }
}

async fn serve_health(State(admin): State<Arc<Admin>>) -> Response {
    let reading = match admin.read().await {
        Ok(reading) => reading,
        Err(response) => return response,
    };
    let readiness = admin.readiness(&reading);
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({ "status": readiness, "reason": readiness.reason() });
    (status, axum::Json(body)).into_response()
}

async fn serve_members(State(admin): State<Arc<Admin>>) -> Response {
    match admin.read().await {
        Ok(reading) => axum::Json(members(&admin, &reading)).into_response(),
        Err(response) => response,
    }
}

async fn serve_state(State(admin): State<Arc<Admin>>) -> Response {
    match admin.read().await {
        Ok(reading) => axum::Json(state(&admin, &reading)).into_response(),
        Err(response) => response,
    }
}

async fn serve_series(State(admin): State<Arc<Admin>>) -> Response {
    let samples: Vec<history::Sample> = admin.history().samples().cloned().collect();
    axum::Json(json!({ "every_s": history::SAMPLE_EVERY.as_secs_f64(), "samples": samples }))
        .into_response()
}

/// Milliseconds, for JSON.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `/members`: this node, the members (or, without membership, the origins held) with their
/// last heartbeat, and the links.
fn members(admin: &Admin, reading: &Reading) -> Value {
    let history = admin.history();
    let node = &reading.node;
    let me = node.metrics.id;
    let addr_of = |id: u64| {
        if id == me.0 {
            return Some(admin.net.advertised().to_string());
        }
        reading
            .links
            .iter()
            .find(|link| link.id == Some(id))
            .map(|link| link.addr.to_string())
    };
    let heartbeat_of = |id: hearsay_proto::NodeId| {
        node.origins
            .iter()
            .find(|origin| origin.origin == id)
            .map(|origin| origin.heartbeat)
    };
    let phi_of = |id: hearsay_proto::NodeId| {
        node.phi
            .iter()
            .find(|(member, _)| *member == id)
            .map(|&(_, phi)| phi)
    };
    let rows: Vec<Value> = if node.members.is_empty() {
        node.origins
            .iter()
            .map(|origin| {
                json!({
                    "id": origin.origin.0,
                    "generation": origin.generation.0,
                    "status": Value::Null,
                    "addr": addr_of(origin.origin.0),
                    "heartbeat": origin.heartbeat,
                    "last_heartbeat_ms": history.last_heard(origin.origin, reading.at).map(millis),
                    "phi": Value::Null,
                    "self": origin.origin == me,
                })
            })
            .collect()
    } else {
        node.members
            .iter()
            .map(|member| {
                // Where the member announced it is reached (its generation's own word, as
                // `members` on stdin says), else its link's: a link to a member that
                // restarted elsewhere names the old address until it closes (session 31's
                // hostile user saw 18 s and more at nodes that heard of the restart
                // second-hand).
                let addr = (member.id != me)
                    .then(|| member.address.as_deref().map(str::to_owned))
                    .flatten()
                    .or_else(|| addr_of(member.id.0));
                json!({
                    "id": member.id.0,
                    "generation": member.generation.0,
                    "status": member.status.name(),
                    "unconfirmed": member.unconfirmed,
                    "addr": addr,
                    "heartbeat": heartbeat_of(member.id),
                    "last_heartbeat_ms": history.last_heard(member.id, reading.at).map(millis),
                    "phi": phi_of(member.id),
                    "self": member.id == me,
                })
            })
            .collect()
    };
    json!({
        "self": {
            "id": me.0,
            "generation": node.metrics.generation.0,
            "addr": admin.net.advertised().to_string(),
        },
        "membership": admin.info.membership,
        "members": rows,
        "links": reading.links,
        "views": (node.views.as_ref()).map(|v| json!({ "active": v.active, "passive": v.passive })),
    })
}

/// `/state`: `/members`, readiness, and every counter and level.
fn state(admin: &Admin, reading: &Reading) -> Value {
    let mut value = members(admin, reading);
    let history = admin.history();
    let readiness = admin.readiness(reading);
    let node = &reading.node;
    let stats = &node.metrics.stats;
    let kinds = |traffic: &[hearsay_proto::Traffic]| -> Value {
        hearsay_proto::MessageKind::ALL
            .iter()
            .map(|&kind| {
                let traffic = traffic[kind as usize];
                (
                    kind.name().to_owned(),
                    json!({ "messages": traffic.messages, "bytes": traffic.bytes }),
                )
            })
            .collect::<serde_json::Map<String, Value>>()
            .into()
    };
    let net: serde_json::Map<String, Value> = hearsay_net::Counter::ALL
        .iter()
        .map(|&counter| (counter.name().to_owned(), reading.counter(counter).into()))
        .collect();
    let origins: Vec<Value> = node
        .origins
        .iter()
        .map(|origin| {
            json!({
                "id": origin.origin.0,
                "generation": origin.generation.0,
                "heartbeat": origin.heartbeat,
                "entries": origin.entries,
                "max_version": origin.max_version.0,
                "last_heartbeat_ms": history.last_heard(origin.origin, reading.at).map(millis),
            })
        })
        .collect();
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "health".into(),
            json!({ "status": readiness, "reason": readiness.reason() }),
        );
        object.insert("transport".into(), admin.info.transport.into());
        object.insert(
            "protocol".into(),
            json!({
                "rounds": stats.rounds,
                "sent": kinds(&stats.sent),
                "received": kinds(&stats.received),
                "rejected": stats.rejected,
                "deltas_sent": stats.deltas_sent,
                "deltas_applied": stats.deltas_applied,
                "deltas_redundant": stats.deltas_redundant,
                "deltas_refused": stats.deltas_refused,
                "throttled": stats.throttled,
                "congested_rounds": stats.congested_rounds,
                "refutations": stats.refutations,
                "removed_restarts": stats.removed_restarts,
                "refutations_fd": stats.refutations_fd,
                "ignored_view_messages": stats.ignored_view_messages,
                "late_probe_cycles": stats.late_probe_cycles,
                "over_mtu": stats.over_mtu,
                "hot_rumors": node.metrics.hot_rumors,
                "entries": node.metrics.entries,
                "allowed_rate": node.metrics.allowed_rate,
                "local_health": node.local_health,
                "queued_updates": node.queued_updates,
            }),
        );
        object.insert("net".into(), net.into());
        object.insert("origins".into(), origins.into());
        object.insert(
            "stale_origins".into(),
            history.stale_origins(reading).into(),
        );
    }
    value
}
