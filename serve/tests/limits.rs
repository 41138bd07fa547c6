//! The bounds on what a client can hold, through the library with short
//! limits: a head sent too slowly, an idle connection, a client that stops
//! reading, and connections beyond the cap.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sentence_multitask_serve::{Limits, Server, Site};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIG: u64 = 64 << 20;

/// Limits with the given timeouts in milliseconds and connection cap.
fn limits(header_ms: u64, idle_ms: u64, max_connections: usize) -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(header_ms),
        idle_timeout: Duration::from_millis(idle_ms),
        max_connections,
        ..Limits::default()
    }
}

/// A server on a free port for a temporary www/ holding `index.html` and a
/// sparse `big.bin` larger than any socket buffer.
async fn serve(limits: Limits) -> (SocketAddr, tempfile::TempDir) {
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), b"hello").unwrap();
    let big = std::fs::File::create(www.path().join("big.bin")).unwrap();
    big.set_len(BIG).unwrap();
    let site = Site::Page {
        www: www.path().to_path_buf(),
        weights: www.path().to_path_buf(),
    };
    let server = Server::bind("127.0.0.1", 0, &site, limits).await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run());
    (addr, www)
}

/// Reads until the server ends the connection (EOF or reset): the bytes read.
async fn until_closed(stream: &mut TcpStream) -> usize {
    let mut buf = vec![0; 1 << 16];
    let mut total = 0;
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n,
        }
    }
}

/// Seconds from `since` until the server closes `stream`.
async fn seconds_until_closed(stream: &mut TcpStream, since: Instant) -> f64 {
    until_closed(stream).await;
    since.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_sent_too_slowly_is_cut_off() {
    let (addr, _www) = serve(limits(500, 5_000, 16)).await;
    let start = Instant::now();
    let (mut read, mut write) = TcpStream::connect(addr).await.unwrap().into_split();
    // A byte every 100 ms: never idle, never a whole head.
    tokio::spawn(async move {
        let mut next: &[u8] = b"GET / HTTP/1.1\r\n";
        while write.write_all(next).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            next = b"X";
        }
    });
    let mut buf = [0; 1024];
    while matches!(read.read(&mut buf).await, Ok(n) if n > 0) {}
    let seconds = start.elapsed().as_secs_f64();
    assert!((0.45..1.5).contains(&seconds), "closed after {seconds} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let (addr, _www) = serve(limits(5_000, 500, 16)).await;
    // One that never sends a byte.
    let start = Instant::now();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // One kept alive after an answer.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"hello") {
        let mut buf = [0; 4096];
        let n = kept.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let answered = Instant::now();
    let kept_seconds = seconds_until_closed(&mut kept, answered).await;
    let silent_seconds = seconds_until_closed(&mut silent, start).await;
    for seconds in [kept_seconds, silent_seconds] {
        assert!((0.45..1.5).contains(&seconds), "closed after {seconds} s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off() {
    let (addr, _www) = serve(limits(5_000, 500, 16)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // What the socket buffers held, then the end: not the whole file.
    let read = until_closed(&mut stream).await as u64;
    assert!(read > 0 && read < BIG, "read {read} bytes of {BIG}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let (addr, _www) = serve(limits(5_000, 700, 2)).await;
    let start = Instant::now();
    let _idle = [
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    third.read_to_end(&mut answer).await.unwrap();
    let seconds = start.elapsed().as_secs_f64();
    assert!(answer.starts_with(b"HTTP/1.1 200 OK"));
    // Answered once an idle one was closed, not before.
    assert!((0.65..2.0).contains(&seconds), "answered after {seconds} s");
}
