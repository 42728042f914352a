//! `tcp`: healthy when a TCP connection is established.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::TcpStream;

use super::{Failure, Outcome, Success};

pub(crate) async fn run(target: SocketAddr) -> Outcome {
    let start = Instant::now();
    let stream = TcpStream::connect(target)
        .await
        .map_err(|e| Failure::io("connect failed", &e))?;
    let latency = start.elapsed();
    drop(stream);
    Ok(Success {
        detail: "connected".to_owned(),
        latency,
        // The kernel retransmits the SYN; it does not tell how often.
        resent: 0,
    })
}
