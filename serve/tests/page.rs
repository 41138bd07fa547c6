//! What the page gets: its files and the model's, with isolation, a strict
//! policy and the right MIME types; gzip only when taken and fresh; 304 and
//! ranges; nothing outside www/ and weights/; loopback by default.

mod common;

use std::path::Path;

use common::{command, get, repo, spawn, start};

/// A `--www` with `pkg/x.wasm` (and `x.wasm.gz` when `gz` is given) and an
/// empty `--weights`, both temporary.
fn wasm_site(gz: Option<&[u8]>) -> (tempfile::TempDir, tempfile::TempDir) {
    let www = tempfile::tempdir().unwrap();
    std::fs::create_dir(www.path().join("pkg")).unwrap();
    std::fs::write(www.path().join("pkg/x.wasm"), b"\0asm").unwrap();
    if let Some(gz) = gz {
        std::fs::write(www.path().join("pkg/x.wasm.gz"), gz).unwrap();
    }
    (www, tempfile::tempdir().unwrap())
}

fn start_site(www: &Path, weights: &Path, more: &[&str]) -> common::Server {
    let dirs = [
        "--www",
        www.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
    ];
    start(&[&dirs[..], more].concat())
}

#[test]
fn serves_the_page_and_the_weights_with_isolation_and_a_strict_policy() {
    let server = start(&[]);
    let page = get(server.port, "GET / HTTP/1.1", "");
    assert_eq!(page.status, "HTTP/1.1 200 OK");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(String::from_utf8_lossy(&page.body).contains("data-testid=\"sentence-input\""));
    let config = get(server.port, "GET /weights/config.json HTTP/1.1", "");
    assert_eq!(config.status, "HTTP/1.1 200 OK");
    assert_eq!(config.header("content-type"), Some("application/json"));
    assert_eq!(
        config.body,
        std::fs::read(repo().join("weights/config.json")).unwrap()
    );
    let missing = get(server.port, "GET /nothing-here.html HTTP/1.1", "");
    for answer in [&page, &config, &missing] {
        for header in [
            "cross-origin-opener-policy: same-origin",
            "cross-origin-embedder-policy: require-corp",
            "cross-origin-resource-policy: same-origin",
            "content-security-policy: default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; ",
            "x-content-type-options: nosniff",
            "cache-control: no-cache",
        ] {
            assert!(
                answer.headers.contains(header),
                "no {header:?} in {}",
                answer.headers
            );
        }
    }
    // DISCUSSION.md (shown as text, not downloaded) and the charts it links by
    // their repository paths.
    for (path, mime) in [
        ("/DISCUSSION.md", "text/plain; charset=utf-8"),
        ("/studies/docs/low-data.svg", "image/svg+xml"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
    ] {
        let answer = get(server.port, &format!("GET {path} HTTP/1.1"), "");
        assert_eq!(answer.status, "HTTP/1.1 200 OK", "{path}");
        assert_eq!(answer.header("content-type"), Some(mime), "{path}");
    }
}

#[test]
fn an_unchanged_file_is_not_sent_again_and_ranges_are_served() {
    let server = start(&[]);
    let config = get(server.port, "GET /weights/config.json HTTP/1.1", "");
    let modified = config.header("last-modified").expect("last-modified");
    let again = get(
        server.port,
        "GET /weights/config.json HTTP/1.1",
        &format!("If-Modified-Since: {modified}\r\n"),
    );
    assert_eq!(again.status, "HTTP/1.1 304 Not Modified");
    assert!(again.body.is_empty());
    let part = get(
        server.port,
        "GET /weights/config.json HTTP/1.1",
        "Range: bytes=2-9\r\n",
    );
    assert_eq!(part.status, "HTTP/1.1 206 Partial Content");
    let len = config.body.len();
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 2-9/{len}").as_str())
    );
    assert_eq!(part.body, config.body[2..10]);
    let beyond = format!("Range: bytes={len}-\r\n");
    let beyond = get(server.port, "GET /weights/config.json HTTP/1.1", &beyond);
    assert_eq!(beyond.status, "HTTP/1.1 416 Range Not Satisfiable");
}

#[test]
fn wasm_has_its_mime_type() {
    let (www, weights) = wasm_site(None);
    let server = start_site(www.path(), weights.path(), &[]);
    let answer = get(
        server.port,
        "GET /pkg/x.wasm HTTP/1.1",
        "Accept-Encoding: gzip\r\n",
    );
    assert_eq!(answer.status, "HTTP/1.1 200 OK");
    assert_eq!(answer.header("content-type"), Some("application/wasm"));
    assert_eq!(answer.header("content-encoding"), None);
    assert_eq!(answer.body, b"\0asm");
}

#[test]
fn a_fresh_gzip_copy_is_sent_to_clients_that_take_gzip() {
    let (www, weights) = wasm_site(Some(b"gzipped"));
    let server = start_site(www.path(), weights.path(), &[]);
    let wasm = |accept: &str| get(server.port, "GET /pkg/x.wasm HTTP/1.1", accept);
    let answer = wasm("Accept-Encoding: br, gzip\r\n");
    assert_eq!(answer.status, "HTTP/1.1 200 OK");
    assert_eq!(answer.header("content-type"), Some("application/wasm"));
    assert_eq!(answer.header("content-encoding"), Some("gzip"));
    assert_eq!(answer.header("vary"), Some("accept-encoding"));
    assert_eq!(answer.header("x-decoded-length"), Some("4"));
    assert_eq!(answer.body, b"gzipped");
    // Not to a client that does not take gzip, or refuses it.
    for accept in ["", "Accept-Encoding: gzip;q=0, br\r\n"] {
        let answer = wasm(accept);
        assert_eq!(answer.header("content-encoding"), None, "{accept}");
        assert_eq!(answer.header("x-decoded-length"), None, "{accept}");
        assert_eq!(answer.body, b"\0asm", "{accept}");
    }
    // Nor when the copy is older than the file (a rebuild without `make web`).
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    let gz = std::fs::File::options()
        .write(true)
        .open(www.path().join("pkg/x.wasm.gz"))
        .unwrap();
    gz.set_modified(old).unwrap();
    let answer = wasm("Accept-Encoding: gzip\r\n");
    assert_eq!(
        answer.header("content-encoding"),
        None,
        "{}",
        answer.headers
    );
    assert_eq!(answer.body, b"\0asm");
}

#[test]
fn refuses_paths_outside_the_roots_and_other_methods() {
    let server = start(&[]);
    for path in [
        "/../Cargo.toml",
        "/weights/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/studies/%2e%2e/Cargo.toml",
        "/.git/config",
        "/weights/.hidden",
        "/nothing-here.html",
        "/weights",
        "/Cargo.toml",
    ] {
        let answer = get(server.port, &format!("GET {path} HTTP/1.1"), "");
        assert_eq!(answer.status, "HTTP/1.1 404 Not Found", "{path}");
    }
    let post = get(server.port, "POST / HTTP/1.1", "Content-Length: 0\r\n");
    assert_eq!(post.status, "HTTP/1.1 405 Method Not Allowed");
    let nonsense = get(server.port, "nonsense", "");
    assert_eq!(nonsense.status, "HTTP/1.1 400 Bad Request");
    let head = get(server.port, "HEAD /weights/config.json HTTP/1.1", "");
    assert_eq!(head.status, "HTTP/1.1 200 OK");
    let len = std::fs::metadata(repo().join("weights/config.json"))
        .unwrap()
        .len();
    assert_eq!(
        head.header("content-length"),
        Some(len.to_string().as_str())
    );
    assert!(head.body.is_empty());
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

#[test]
fn directories_are_found_from_the_current_one_or_named_when_missing() {
    let elsewhere = tempfile::tempdir().unwrap();
    let out = command(elsewhere.path(), &[]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let cwd = elsewhere.path().canonicalize().unwrap();
    assert!(
        stderr.starts_with("error: --www www: no such directory"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{}", cwd.display())), "{stderr}");
    // The weights directory also comes from the environment, as for the other commands.
    std::fs::create_dir(elsewhere.path().join("www")).unwrap();
    std::fs::write(elsewhere.path().join("config.json"), b"{}").unwrap();
    let mut from_env = command(elsewhere.path(), &[]);
    from_env.env("SENTENCE_MULTITASK_WEIGHTS", elsewhere.path());
    let server = spawn(from_env);
    let answer = get(server.port, "GET /weights/config.json HTTP/1.1", "");
    assert_eq!(answer.body, b"{}");
}

#[test]
fn plain_serves_one_folder_as_any_static_host() {
    let (dist, weights) = wasm_site(Some(b"gzipped"));
    std::fs::create_dir(dist.path().join("weights")).unwrap();
    std::fs::write(dist.path().join("weights/config.json"), b"{}").unwrap();
    let server = start_site(dist.path(), weights.path(), &["--plain"]);
    let config = get(server.port, "GET /weights/config.json HTTP/1.1", "");
    assert_eq!(config.body, b"{}");
    let wasm = get(
        server.port,
        "GET /pkg/x.wasm HTTP/1.1",
        "Accept-Encoding: gzip\r\n",
    );
    assert_eq!(wasm.body, b"\0asm");
    for answer in [&config, &wasm] {
        for header in [
            "cross-origin-",
            "content-security-policy",
            "content-encoding",
        ] {
            assert!(!answer.headers.contains(header), "{}", answer.headers);
        }
    }
}
