//! Binding, serving with TCP_NODELAY on every connection, and the drain on stop.

use crate::config::ServeConfig;
use crate::error::ServeError;
use crate::metrics::Metrics;
use crate::model::ServedModel;
use crate::protocol::Limits;
use crate::routes;
use crate::state::AppState;
use crate::stats::ModelStats;
use axum::serve::ListenerExt;
use cosched_core::{ModelId, StreamId};
use cosched_ort::{ExecStats, Executor, ModelInfo, ShutdownMode};
use ndarray::ArrayD;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// A bound server; [`Server::run`] serves until stopped.
pub struct Server {
    runtime: tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Arc<Notify>,
    handle_signals: bool,
}

/// Stops a running [`Server`] from another thread (like SIGTERM: stop accepting, drain).
#[derive(Clone)]
pub struct StopHandle(Arc<Notify>);

impl StopHandle {
    /// Ask the server to stop (also before it runs: it then stops at once).
    pub fn stop(&self) {
        self.0.notify_one();
    }
}

/// What a server did, once it has stopped.
#[derive(Debug, Clone)]
pub struct ServeSummary {
    /// Inference requests answered with outputs, over every model.
    pub inferences: u64,
    /// The executor's counters after its drain.
    pub executor: ExecStats,
}

impl Server {
    /// Warm every model of `executor` up (one inference each, which also gives the output
    /// shapes of the metadata), start the HTTP runtime and bind `config.listen`.
    pub fn bind(executor: Executor, config: ServeConfig) -> Result<Server, ServeError> {
        let mut models = Vec::new();
        for m in 0..executor.device().models.len() {
            let id = ModelId(m as u16);
            if let Some(info) = executor.model(id) {
                let output_shapes = warm_up(&executor, id, info, config.warmup_timeout)?;
                models.push(ServedModel {
                    id,
                    info: info.clone(),
                    output_shapes,
                    stats: ModelStats::default(),
                });
            }
        }
        if models.is_empty() {
            return Err(ServeError::NoModels);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.http_threads.max(1))
            .thread_name("cosched-http")
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        let bind = |e| ServeError::Bind {
            addr: config.listen,
            source: e,
        };
        let std_listener = std::net::TcpListener::bind(config.listen).map_err(bind)?;
        std_listener.set_nonblocking(true).map_err(bind)?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener).map_err(bind)?
        };
        let addr = listener.local_addr().map_err(bind)?;
        let max_in_flight = config.max_in_flight.max(1);
        let state = Arc::new(AppState {
            exec: Arc::new(executor),
            models,
            limits: Limits {
                max_body_bytes: config.max_body_bytes,
                max_dims: config.max_dims,
            },
            max_in_flight,
            permits: Arc::new(Semaphore::new(max_in_flight)),
            metrics: Metrics::new(),
            stopping: Default::default(),
        });
        Ok(Server {
            runtime,
            listener,
            addr,
            state,
            stop: Arc::new(Notify::new()),
            handle_signals: config.handle_signals,
        })
    }

    /// The address it listens on (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Names of the models served.
    pub fn models(&self) -> Vec<String> {
        self.state.models.iter().map(|m| m.name().to_string()).collect()
    }

    /// A handle that stops the server.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.stop.clone())
    }

    /// Serve until a [`StopHandle`] (or, with `handle_signals`, SIGTERM / SIGINT) stops it; then
    /// stop accepting connections, answer every request already accepted, and shut the
    /// executor down in drain mode.
    pub fn run(self) -> Result<ServeSummary, ServeError> {
        let Server {
            runtime,
            listener,
            state,
            stop,
            handle_signals,
            ..
        } = self;
        let app = routes::router(state.clone());
        let signal_state = state.clone();
        let served = runtime.block_on(async move {
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::warn!("cannot set TCP_NODELAY on a connection: {e}");
                }
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    stopped(stop, handle_signals).await;
                    signal_state.stopping.store(true, Ordering::SeqCst);
                })
                .await
        });
        // Every connection has closed, so every accepted request was answered; drop what is left.
        runtime.shutdown_timeout(Duration::from_secs(5));
        served.map_err(ServeError::Runtime)?;
        let inferences = state
            .models
            .iter()
            .map(|m| m.stats.json(m.name())["inference_count"].as_u64().unwrap_or(0))
            .sum();
        let state = Arc::try_unwrap(state)
            .map_err(|_| ServeError::Runtime(std::io::Error::other("a request handler outlived the server")))?;
        let mut exec = Arc::try_unwrap(state.exec)
            .map_err(|_| ServeError::Runtime(std::io::Error::other("the executor is still shared")))?;
        exec.shutdown(ShutdownMode::Drain);
        Ok(ServeSummary {
            inferences,
            executor: exec.stats(),
        })
    }
}

async fn stopped(stop: Arc<Notify>, handle_signals: bool) {
    if !handle_signals {
        return stop.notified().await;
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot handle SIGTERM: {e}");
                return stop.notified().await;
            }
        };
        tokio::select! {
            _ = stop.notified() => {}
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::select! {
        _ = stop.notified() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// One inference of zeros (dynamic dimensions 1): the model runs, and its output shapes are
/// known (batch dimension -1 when it is batchable).
fn warm_up(exec: &Executor, id: ModelId, info: &ModelInfo, timeout: Duration) -> Result<Vec<Vec<i64>>, ServeError> {
    let err = |message: String| ServeError::Warmup {
        model: info.name.clone(),
        message,
    };
    let inputs = info
        .inputs
        .iter()
        .map(|(_, s)| ArrayD::zeros(s.iter().map(|&d| d.max(1) as usize).collect::<Vec<_>>()))
        .collect();
    let slo = exec.default_slo_ms(id);
    let ticket = exec
        .submit_to(id, StreamId(0), slo, inputs)
        .map_err(|e| err(e.to_string()))?;
    let c = ticket
        .wait_timeout(timeout)
        .map_err(|_| err(format!("no answer within {timeout:?}")))?;
    let outputs = c.result.map_err(|e| err(e.to_string()))?;
    Ok(outputs
        .iter()
        .map(|a| {
            a.shape()
                .iter()
                .enumerate()
                .map(|(i, &d)| if i == 0 && info.batchable { -1 } else { d as i64 })
                .collect()
        })
        .collect())
}
