//! A delaying TCP proxy: every byte is forwarded `--delay-ms` after it arrived, in each
//! direction (10 ms each way gives the benchmark's 20 ms round trip; the kernel here has no
//! `netem`). It adds latency, not a bandwidth limit: reading goes on while earlier chunks wait
//! for their time, so a pipelining client gains what it would on a real long link.
//!
//! In Rust (tokio) rather than Python asyncio: its timers are precise to well under a
//! millisecond and it forwards 100 KiB messages with little CPU, so the proxy stays the same
//! small, constant cost for every client instead of becoming the bottleneck.
//!
//! `delay-proxy --listen 127.0.0.1:30600 --upstream 127.0.0.1:30525 --delay-ms 10`

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use relaykit_bench::{Args, BoxError};

/// Chunks in flight per direction; a full channel makes the reader wait (bounded memory).
const WINDOW: usize = 4096;

fn main() -> Result<(), BoxError> {
    let a = Args::parse()?;
    let listen = a.str("listen", "127.0.0.1:30600");
    let upstream = a.str("upstream", "127.0.0.1:30525");
    let delay = Duration::from_secs_f64(a.num::<f64>("delay-ms", 10.0)? / 1000.0);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let l = TcpListener::bind(&listen).await?;
        loop {
            let (client, _) = l.accept().await?;
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Err(e) = relay(client, &upstream, delay).await {
                    eprintln!("delay-proxy: {e}");
                }
            });
        }
    })
}

async fn relay(client: TcpStream, upstream: &str, delay: Duration) -> Result<(), BoxError> {
    let server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = tokio::spawn(pipe(cr, sw, delay));
    let down = tokio::spawn(pipe(sr, cw, delay));
    let (a, b) = (up.await?, down.await?);
    Ok(a.and(b)?)
}

/// Copies `r` to `w`, each chunk `delay` after it was read; EOF is passed on (delayed too).
async fn pipe(mut r: OwnedReadHalf, mut w: OwnedWriteHalf, delay: Duration) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(WINDOW);
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // A reset is passed on as the end of the stream.
            let n = r.read(&mut buf).await.unwrap_or_default();
            // An empty chunk marks the end of the stream.
            if tx.send((Instant::now() + delay, buf[..n].to_vec())).await.is_err() || n == 0 {
                return;
            }
        }
    });
    while let Some((due, chunk)) = rx.recv().await {
        tokio::time::sleep_until(due).await;
        if chunk.is_empty() {
            break;
        }
        if w.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
    reader.abort();
    Ok(())
}
