//! The binary's default bounds under load: 2,000 idle connections neither
//! delay a request nor stay open past 30 s of silence.

mod common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IDLE: usize = 2_000;

/// How a connection idles: silent, half a head, or kept alive after an answer.
const KINDS: [&str; 3] = ["silent", "half a head", "kept alive"];

/// Opens connection `i` and makes it idle in its kind's way; returns it
/// with the time of its last byte.
async fn idle_connection(port: u16, i: usize) -> (TcpStream, Instant) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    match i % KINDS.len() {
        0 => {}
        1 => stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .unwrap(),
        _ => {
            let request = b"HEAD /weights/config.json HTTP/1.1\r\nHost: localhost\r\n\r\n";
            stream.write_all(request).await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0];
                assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed early");
                head.push(byte[0]);
            }
        }
    }
    (stream, Instant::now())
}

/// Milliseconds for one whole `GET /` on a new connection.
async fn one_request_ms(port: u16) -> f64 {
    let start = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200 OK"));
    start.elapsed().as_secs_f64() * 1e3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_neither_delay_a_request_nor_outstay_30_s() {
    let limit = rlimit::increase_nofile_limit(4 * IDLE as u64).unwrap();
    assert!(limit > IDLE as u64 + 100, "open-file limit {limit} too low");
    let server = common::start(&[]);
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        idle.push(idle_connection(server.port, i).await);
    }
    let mut times = Vec::new();
    for _ in 0..5 {
        times.push(one_request_ms(server.port).await);
    }
    let slowest = times.iter().copied().fold(0.0, f64::max);
    println!("with {IDLE} idle connections open, GET / took {times:.1?} ms");
    assert!(slowest < 100.0, "a request took {slowest:.1} ms");
    let waits = idle
        .into_iter()
        .enumerate()
        .map(|(i, (mut stream, last_byte))| {
            tokio::spawn(async move {
                let mut rest = Vec::new();
                let end =
                    tokio::time::timeout(Duration::from_secs(40), stream.read_to_end(&mut rest));
                assert!(end.await.is_ok(), "connection {i} still open after 40 s");
                (i % KINDS.len(), last_byte.elapsed().as_secs_f64())
            })
        });
    let mut spans = [(f64::MAX, 0.0f64); KINDS.len()];
    for wait in waits.collect::<Vec<_>>() {
        let (kind, seconds) = wait.await.unwrap();
        spans[kind] = (spans[kind].0.min(seconds), spans[kind].1.max(seconds));
    }
    for (kind, (first, last)) in KINDS.iter().zip(spans) {
        println!("{kind}: closed {first:.2} to {last:.2} s after the last byte");
        assert!(
            first >= 29.0 && last < 31.0,
            "{kind}: {first:.2} to {last:.2} s"
        );
    }
}
