//! A fixed-rate latency probe for the benchmarks in `bench/`: sends `GET <path>` over one
//! keep-alive HTTP/1.1 connection at a steady rate and prints percentiles of the response time.
//!
//! ```text
//! cargo run --release --example latency_probe -- 127.0.0.1:3000 /health 200 10
//! #                                               address        path   req/s seconds
//! ```
//!
//! A probe at a fixed rate measures what a client waiting on the service feels; a flat-out load
//! generator would mostly measure its own queueing.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, path, rate, seconds] = args.as_slice() else {
        return Err(
            "usage: latency_probe <host:port> <path> <requests per second> <seconds>".into(),
        );
    };
    let rate: u32 = rate.parse()?;
    let seconds: u64 = seconds.parse()?;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let total = u64::from(rate) * seconds;

    let mut stream = TcpStream::connect(addr.as_str()).await?;
    stream.set_nodelay(true)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut samples = Vec::with_capacity(total as usize);
    let mut buf = vec![0u8; 4096];
    let mut failures = 0u64;
    for _ in 0..total {
        ticker.tick().await;
        let start = Instant::now();
        stream.write_all(request.as_bytes()).await?;
        // Read one response: headers, then Content-Length bytes of body.
        let mut got = Vec::new();
        let complete = loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            got.extend_from_slice(&buf[..n]);
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>())
                    })
                    .transpose()?
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    break head.starts_with("http/1.1 200");
                }
            }
        };
        samples.push(start.elapsed());
        if !complete {
            failures += 1;
        }
    }
    samples.sort_unstable();
    let pick =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "probe {path}: {} requests at {rate}/s, {failures} not 200; p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        ms(pick(0.50)),
        ms(pick(0.90)),
        ms(pick(0.99)),
        ms(pick(1.0)),
    );
    Ok(())
}
