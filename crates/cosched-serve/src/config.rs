//! How a server is set up.

use std::net::SocketAddr;
use std::time::Duration;

/// Settings of a [`Server`](crate::Server).
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (port 0: any free port; see [`Server::local_addr`](crate::Server::local_addr)).
    pub listen: SocketAddr,
    /// Largest request body accepted, bytes (larger: 413).
    pub max_body_bytes: usize,
    /// Inference requests handled at once (body read, queued or running); more: 503. With
    /// `max_body_bytes` this bounds the memory requests can hold.
    pub max_in_flight: usize,
    /// Largest number of dimensions of an input tensor.
    pub max_dims: usize,
    /// Threads of the HTTP runtime (the inferences run on the executor's own threads).
    pub http_threads: usize,
    /// Stop on SIGTERM / SIGINT (Ctrl-C) as well as on a [`StopHandle`](crate::StopHandle).
    pub handle_signals: bool,
    /// How long start-up waits for the warm-up inference of each model.
    pub warmup_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            max_body_bytes: 64 << 20,
            max_in_flight: 1024,
            max_dims: 16,
            http_threads: 2,
            handle_signals: true,
            warmup_timeout: Duration::from_secs(60),
        }
    }
}
