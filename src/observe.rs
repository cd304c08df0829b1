//! Operating zipp: Prometheus metrics and the health endpoints, on `observe.listen`.
//!
//! - `GET /metrics`: every metric of [`name`] in Prometheus' text format. Labels name commands,
//!   outcomes, models, sizes and backends — never a member, a server, a prompt or a persona.
//! - `GET /healthz`: 200 while the process serves HTTP (liveness).
//! - `GET /readyz`: 200 when every check of this process passes (the database answers; for a
//!   bot, the gateway is connected; for a worker, its default model can be loaded), else 503
//!   naming the failed checks (readiness).
//!
//! The recorder is process-wide and installed once ([`install`]); until then the `metrics` macros
//! record nothing, so a process without `observe.listen` pays nothing for them.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::Store;

/// The metrics zipp records.
pub mod name {
    /// Counter: interactions by `command` (a slash command, or `button:<handler>`) and
    /// `outcome` (`ok`, `refused`: a polite refusal, `error`: an internal error).
    pub const INTERACTIONS: &str = "zipp_interactions_total";
    /// Histogram: seconds from an interaction's arrival to its acknowledgement, by `via`
    /// (`imagine`, `button`), the durable write of its job included.
    pub const ACK_SECONDS: &str = "zipp_ack_seconds";
    /// Gauge: unfinished jobs by `status` (`rewriting`, `queued`, `running`) and `model`
    /// (read from the database at each scrape).
    pub const JOBS: &str = "zipp_jobs";
    /// Histogram: seconds of a finished render (all images of a job) by `model` and `size`
    /// (one image's, `WxH`).
    pub const RENDER_SECONDS: &str = "zipp_render_seconds";
    /// Counter: render attempts by `model` and `outcome` (`ok`, `retry`, `failed`).
    pub const RENDERS: &str = "zipp_renders_total";
    /// Histogram: seconds of a prompt rewrite by `backend` (the LLM's catalog name).
    pub const REWRITE_SECONDS: &str = "zipp_rewrite_seconds";
    /// Counter: rewrites by `backend` and `outcome` (`llm`, `template`, `unchanged`,
    /// `fallback`: the LLM failed and the template answered, `budget`: the server's LLM
    /// budget was spent).
    pub const REWRITES: &str = "zipp_rewrites_total";
    /// Counter: gateway events handed to ingestion (recorded, or dropped without consent).
    pub const INGESTED: &str = "zipp_ingested_events_total";
    /// Counter: scheduled persona passes over a server, by `outcome` (`ok`, `error`).
    pub const PERSONA_PASSES: &str = "zipp_persona_passes_total";
    /// Counter: members' versions made active by persona passes.
    pub const PERSONAS_ACTIVATED: &str = "zipp_personas_activated_total";
    /// Counter: requests refused or images withheld, by `reason` (a limit, `blocklist`,
    /// `blocklist_builtin`, `safety`).
    pub const REFUSALS: &str = "zipp_refusals_total";
    /// Gauge: database connections by `state` (`busy`, `idle`).
    pub const DB_CONNECTIONS: &str = "zipp_db_connections";
}

/// Upper bounds (seconds) of the `*_seconds` histograms: from an acknowledgement (milliseconds)
/// to a render on a CPU (minutes).
const SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1800.0,
];

static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (the first call; later calls return the same
/// handle).
pub fn install() -> Result<PrometheusHandle, String> {
    RECORDER
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS)
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())?;
            describe();
            Ok(handle)
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(name::INTERACTIONS, "Interactions by command and outcome.");
    describe_histogram!(
        name::ACK_SECONDS,
        Unit::Seconds,
        "From an interaction's arrival to its acknowledgement."
    );
    describe_gauge!(name::JOBS, "Unfinished jobs by status and model.");
    describe_histogram!(
        name::RENDER_SECONDS,
        Unit::Seconds,
        "Render time by model and image size."
    );
    describe_counter!(name::RENDERS, "Render attempts by model and outcome.");
    describe_histogram!(
        name::REWRITE_SECONDS,
        Unit::Seconds,
        "Prompt rewrite time by backend."
    );
    describe_counter!(name::REWRITES, "Prompt rewrites by backend and outcome.");
    describe_counter!(name::INGESTED, "Gateway events handed to ingestion.");
    describe_counter!(name::PERSONA_PASSES, "Scheduled persona passes by outcome.");
    describe_counter!(
        name::PERSONAS_ACTIVATED,
        "Persona versions made active by passes."
    );
    describe_counter!(
        name::REFUSALS,
        "Refused requests and withheld images by reason."
    );
    describe_gauge!(name::DB_CONNECTIONS, "Database connections by state.");
}

/// Counts one interaction.
pub fn interaction(command: &str, outcome: &'static str) {
    metrics::counter!(name::INTERACTIONS, "command" => command.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Records how long an interaction took to acknowledge, from `arrived`.
pub fn acknowledged(via: &'static str, arrived: Instant) {
    metrics::histogram!(name::ACK_SECONDS, "via" => via).record(arrived.elapsed());
}

/// Counts one refusal (or withheld image) by its reason.
pub fn refused(reason: &'static str) {
    metrics::counter!(name::REFUSALS, "reason" => reason).increment(1);
}

/// The outcome label of a rewrite of kind `kind` ([`crate::rewrite::Rewritten::kind`]).
pub fn rewrite_outcome(kind: &str) -> &'static str {
    if kind.contains(" failed: ") || kind.contains(" unavailable: ") {
        "fallback"
    } else if kind.contains("budget") {
        "budget"
    } else if kind.starts_with("llm") {
        "llm"
    } else if kind.starts_with("template") {
        "template"
    } else {
        "unchanged"
    }
}

/// One readiness check: `Ok` when ready, else why not (shown by `/readyz`).
pub type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The longest one readiness check may take before it counts as failed.
const CHECK_LIMIT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct Served {
    handle: PrometheusHandle,
    store: Store,
    checks: Arc<Vec<(&'static str, Check)>>,
    /// The (status, model) pairs of `zipp_jobs` reported so far.
    seen_jobs: Arc<std::sync::Mutex<std::collections::BTreeSet<(String, String)>>>,
}

/// The running HTTP server.
pub struct Server {
    /// Where it listens (the port chosen when `observe.listen` asked for port 0).
    pub address: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// Waits for the server to stop (after the shutdown signal).
    pub async fn stopped(self) {
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the observe server ended abnormally");
        }
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `address` until `shutdown` becomes true. The
/// database check is always among `checks`' (first).
pub async fn serve(
    address: SocketAddr,
    store: Store,
    checks: Vec<(&'static str, Check)>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Server> {
    let handle = install().map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    let database: Check = {
        let store = store.clone();
        Arc::new(move || {
            let store = store.clone();
            Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
        })
    };
    let mut all = vec![("database", database)];
    all.extend(checks);
    let served = Served {
        handle,
        store,
        checks: Arc::new(all),
        seen_jobs: Arc::default(),
    };
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(served);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("observe.listen {address}: {e}"))?;
    let address = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(%error, "the observe server failed");
        }
    });
    tracing::info!(%address, "metrics on /metrics, health on /healthz and /readyz");
    Ok(Server { address, task })
}

async fn metrics_text(State(served): State<Served>) -> impl IntoResponse {
    // Read at each scrape: what the database holds now.
    match served.store.active_jobs().await {
        Ok(rows) => {
            let mut seen = served
                .seen_jobs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // A state and model with no job left read 0, not their last count.
            for (status, model) in seen.iter() {
                if !rows.iter().any(|(s, m, _)| s == status && m == model) {
                    metrics::gauge!(name::JOBS, "status" => status.clone(), "model" => model.clone())
                        .set(0.0);
                }
            }
            for (status, model, n) in rows {
                seen.insert((status.clone(), model.clone()));
                metrics::gauge!(name::JOBS, "status" => status, "model" => model).set(n as f64);
            }
        }
        Err(error) => tracing::warn!(%error, "counting jobs for /metrics failed"),
    }
    let pool = served.store.pool_use();
    metrics::gauge!(name::DB_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!(name::DB_CONNECTIONS, "state" => "busy")
        .set(f64::from(pool.open.saturating_sub(pool.idle)));
    served.handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        served.handle.render(),
    )
}

async fn ready(State(served): State<Served>) -> impl IntoResponse {
    let mut failed = Vec::new();
    for (what, check) in served.checks.iter() {
        match tokio::time::timeout(CHECK_LIMIT, check()).await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failed.push(format!("{what}: {why}")),
            Err(_) => failed.push(format!(
                "{what}: no answer within {} s",
                CHECK_LIMIT.as_secs()
            )),
        }
    }
    if failed.is_empty() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        tracing::warn!(?failed, "not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready\n{}\n", failed.join("\n")),
        )
    }
}
