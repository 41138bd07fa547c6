//! `serve`: loopback only by default, the page's headers, MIME types, and
//! nothing outside www/ and weights/.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

/// A running `serve --port 0`, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentence-multitask"))
        .args(["serve", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no loopback URL in {line:?}"));
    Server { child, port }
}

/// `(status line, headers lowercased, body)` of one raw request.
fn get(server: &Server, request_line: &str, extra: &str) -> (String, String, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(stream, "{request_line}\r\nHost: localhost\r\n{extra}\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head ends");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    (
        status.to_string(),
        headers.to_lowercase(),
        raw[split + 4..].to_vec(),
    )
}

#[test]
fn serves_the_page_and_the_weights_with_isolation_and_a_strict_policy() {
    let server = start(&[]);
    let (status, headers, body) = get(&server, "GET / HTTP/1.1", "");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("content-type: text/html"));
    assert!(String::from_utf8_lossy(&body).contains("data-testid=\"sentence-input\""));
    for header in [
        "cross-origin-opener-policy: same-origin",
        "cross-origin-embedder-policy: require-corp",
        "content-security-policy: default-src 'self';",
        "x-content-type-options: nosniff",
    ] {
        assert!(headers.contains(header), "missing {header:?} in {headers}");
    }
    let (status, headers, body) = get(&server, "GET /weights/config.json HTTP/1.1", "");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("content-type: application/json"));
    assert_eq!(
        body,
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/weights/config.json")).unwrap()
    );
    // DISCUSSION.md and the charts it links by their repository paths.
    for path in ["/DISCUSSION.md", "/www/style.css"] {
        let (status, _, _) = get(&server, &format!("GET {path} HTTP/1.1"), "");
        assert_eq!(status, "HTTP/1.1 200 OK", "{path}");
    }
    // An unchanged file is not sent again.
    let etag = headers
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("etag")
        .to_string();
    let (status, _, body) = get(
        &server,
        "GET /weights/config.json HTTP/1.1",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(status, "HTTP/1.1 304 Not Modified");
    assert!(body.is_empty());
}

#[test]
fn wasm_has_its_mime_type() {
    let www = tempfile::tempdir().unwrap();
    std::fs::create_dir(www.path().join("pkg")).unwrap();
    std::fs::write(www.path().join("pkg/x.wasm"), b"\0asm").unwrap();
    let server = start(&["--www", www.path().to_str().unwrap()]);
    let (status, headers, body) = get(&server, "GET /pkg/x.wasm HTTP/1.1", "");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("content-type: application/wasm"));
    assert_eq!(body, b"\0asm");
}

#[test]
fn a_fresh_gzip_copy_is_sent_to_clients_that_take_gzip() {
    let www = tempfile::tempdir().unwrap();
    std::fs::create_dir(www.path().join("pkg")).unwrap();
    std::fs::write(www.path().join("pkg/x.wasm"), b"\0asm").unwrap();
    std::fs::write(www.path().join("pkg/x.wasm.gz"), b"gzipped").unwrap();
    let server = start(&["--www", www.path().to_str().unwrap()]);
    let (status, headers, body) = get(
        &server,
        "GET /pkg/x.wasm HTTP/1.1",
        "Accept-Encoding: br, gzip\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.contains("content-type: application/wasm"),
        "{headers}"
    );
    assert!(headers.contains("content-encoding: gzip"), "{headers}");
    assert!(headers.contains("vary: accept-encoding"), "{headers}");
    assert_eq!(body, b"gzipped");
    // Not to a client that does not say it takes gzip.
    let (_, headers, body) = get(&server, "GET /pkg/x.wasm HTTP/1.1", "");
    assert!(!headers.contains("content-encoding"), "{headers}");
    assert_eq!(body, b"\0asm");
    // Nor when the copy is older than the file (a rebuild without `make web`).
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    let gz = std::fs::File::options()
        .write(true)
        .open(www.path().join("pkg/x.wasm.gz"))
        .unwrap();
    gz.set_modified(old).unwrap();
    let (_, headers, body) = get(
        &server,
        "GET /pkg/x.wasm HTTP/1.1",
        "Accept-Encoding: gzip\r\n",
    );
    assert!(!headers.contains("content-encoding"), "{headers}");
    assert_eq!(body, b"\0asm");
}

#[test]
fn refuses_paths_outside_the_roots_and_other_methods() {
    let server = start(&[]);
    for path in [
        "/../Cargo.toml",
        "/weights/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/.git/config",
        "/nothing-here.html",
        "/weights",
    ] {
        let (status, _, _) = get(&server, &format!("GET {path} HTTP/1.1"), "");
        assert_eq!(status, "HTTP/1.1 404 Not Found", "{path}");
    }
    let (status, _, _) = get(&server, "POST / HTTP/1.1", "");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let (status, _, _) = get(&server, "nonsense", "");
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    let (status, headers, body) = get(&server, "HEAD /weights/config.json HTTP/1.1", "");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("content-length: "));
    assert!(body.is_empty());
}

#[test]
fn listens_on_loopback_only_by_default() {
    let server = start(&[]);
    // Linux lists listening sockets in /proc/net/tcp: "local_address" is
    // hex IP:port, state 0A is LISTEN; 0100007F is 127.0.0.1.
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let suffix = format!(":{:04X}", server.port);
    let listening: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields[1].ends_with(&suffix) && fields[3] == "0A").then_some(fields[1])
        })
        .collect();
    assert_eq!(listening, [format!("0100007F{suffix}")]);
}
