//! Connections: a bounded number open at once, each closed when it stalls.
//!
//! Three bounds together keep what a client can hold to a few seconds of
//! the server's time: hyper's header read timeout (a whole request head
//! within the limit, however slowly its bytes trickle in; hyper restarts it
//! after each response, so it also ends idle keep-alive connections), an
//! idle timeout on the socket itself (no byte read or written for that
//! long, e.g. a client that stopped reading a response), and a cap on open
//! connections (a semaphore taken before `accept`: beyond it, clients wait
//! in the kernel's queue instead of costing a descriptor each).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::timeout::TimeoutLayer;

use crate::site::{add_page_headers, Body, Files, Site};
use crate::Error;

/// Bounds on what clients can hold. The defaults are what `serve` uses.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A connection must send a whole request head within this long of
    /// opening or of its previous response, or it is closed.
    pub header_read_timeout: Duration,
    /// A connection with no byte read or written for this long is closed.
    pub idle_timeout: Duration,
    /// Longest wait for a response head once a request is taken up; then 503.
    pub request_timeout: Duration,
    /// Connections open at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Requests answered at once across all connections; more wait their turn.
    pub max_requests: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_requests: 256,
        }
    }
}

/// A bound listening socket with what it serves.
pub struct Server {
    listener: TcpListener,
    files: Arc<Files>,
    limits: Limits,
}

impl Server {
    /// Listens on `host:port` (port 0: any free one). Raises the process's soft
    /// open-file limit so the connections allowed fit (lowering
    /// `max_connections` when even the hard limit is too low), so `accept`
    /// never fails for want of descriptors.
    pub async fn bind(
        host: &str,
        port: u16,
        site: &Site,
        mut limits: Limits,
    ) -> Result<Server, Error> {
        let listener = TcpListener::bind((host, port)).await.map_err(|e| Error {
            what: format!("address {host}:{port}"),
            reason: format!("cannot listen there ({e})"),
        })?;
        limits.max_connections = fit_descriptor_limit(limits.max_connections);
        Ok(Server {
            listener,
            files: Arc::new(Files::new(site)),
            limits,
        })
    }

    /// The address listened on (with the port picked when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound socket has an address")
    }

    /// `http://ADDR:PORT/`, with loopback for an address that means "every interface".
    pub fn url(&self) -> String {
        let mut addr = self.local_addr();
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}/")
    }

    /// Accepts and answers connections until the process ends.
    pub async fn run(self) {
        let slots = Arc::new(Semaphore::new(self.limits.max_connections));
        let service = service(Arc::clone(&self.files), &self.limits);
        loop {
            let slot = Arc::clone(&slots)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    let limits = self.limits.clone();
                    tokio::spawn(connection(stream, service.clone(), limits, slot));
                }
                // Out of descriptors or a connection reset before it was
                // taken: not the next client's fault; pause instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// The request pipeline shared by every connection: at most `max_requests`
/// answered at once (tower's concurrency limit, one semaphore for all
/// clones), each within `request_timeout`, then the page's headers. A
/// request waiting for its turn moves no byte, so the idle timeout bounds
/// the wait.
fn service(files: Arc<Files>, limits: &Limits) -> Pipeline {
    let page = files.is_page();
    ServiceBuilder::new()
        .map_response(move |mut response: Response<Body>| {
            if page {
                add_page_headers(response.headers_mut());
            }
            response
        })
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .concurrency_limit(limits.max_requests)
        .service_fn(move |request: Request<Incoming>| {
            let files = Arc::clone(&files);
            async move { Ok::<_, Infallible>(files.answer(request).await) }
        })
        .boxed_clone()
}

/// What answers a connection's requests.
type Pipeline = BoxCloneService<Request<Incoming>, Response<Body>, Infallible>;

/// Serves one connection until the client closes it or it breaks a bound;
/// dropping the hyper connection closes the socket, and `_slot` frees its
/// place among `max_connections`.
async fn connection(
    stream: TcpStream,
    service: Pipeline,
    limits: Limits,
    _slot: OwnedSemaphorePermit,
) {
    // The answers are small writes in a row; Nagle would hold the later ones
    // for the client's delayed ACK (40 ms on Linux).
    let _ = stream.set_nodelay(true);
    let watched = Watched::new(stream);
    let last_byte = watched.clock();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let conn = builder.serve_connection(TokioIo::new(watched), TowerToHyperService::new(service));
    let mut conn = std::pin::pin!(conn);
    loop {
        let deadline = last_byte.at() + limits.idle_timeout;
        if deadline <= Instant::now() {
            return;
        }
        // Done, or failed (a reset, a bad request answered with 400, the
        // header timeout): either way the connection is over.
        if tokio::time::timeout_at(deadline, conn.as_mut())
            .await
            .is_ok()
        {
            return;
        }
    }
}

/// When a connection last moved a byte, shared by its socket and its watchdog.
#[derive(Clone)]
struct Clock {
    start: Instant,
    /// Milliseconds after `start`.
    last: Arc<AtomicU64>,
}

impl Clock {
    fn touch(&self) {
        let millis = self.start.elapsed().as_millis() as u64;
        self.last.store(millis, Ordering::Relaxed);
    }

    fn at(&self) -> Instant {
        self.start + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }
}

/// A socket that notes the time of every byte it moves.
struct Watched {
    stream: TcpStream,
    clock: Clock,
}

impl Watched {
    fn new(stream: TcpStream) -> Watched {
        let clock = Clock {
            start: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        };
        Watched { stream, clock }
    }

    fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// Passes `poll` through, touching the clock when it moved bytes.
    fn noting(&self, poll: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.touch();
        }
        poll
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.stream).poll_read(cx, buf);
        let read = poll.map(|r| r.map(|()| buf.filled().len() - before));
        self.noting(read).map(|r| r.map(drop))
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.noting(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.noting(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Each connection holds a socket and, while it sends one, a file: raises
/// the soft open-file limit to fit `max_connections` of each (plus a margin
/// for the rest of the process), or returns the count that fits the hard limit.
fn fit_descriptor_limit(max_connections: usize) -> usize {
    const SPARE: u64 = 64;
    let wanted = 2 * max_connections as u64 + SPARE;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit < wanted => {
            let fit = (limit.saturating_sub(SPARE) / 2).max(1) as usize;
            eprintln!(
                "warning: the open-file limit ({limit}) allows {fit} connections at once, not {max_connections}"
            );
            fit
        }
        _ => max_connections,
    }
}
