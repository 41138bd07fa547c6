//! The `sentence-multitask-serve` binary as the page and scripts use it:
//! started on a free port, its URL read from stdout, spoken to over raw TCP.

// Each test binary uses part of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The repository's top: where `www/` and `weights/` are.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The binary with `--port 0`, run in `dir`, with none of the caller's
/// environment variables that would change what it serves.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sentence-multitask-serve"));
    command
        .current_dir(dir)
        .args(["--port", "0"])
        .args(args)
        .env_remove("SENTENCE_MULTITASK_WEIGHTS")
        .env_remove("PORT");
    command
}

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` and reads the port from the URL it prints.
pub fn spawn(mut command: Command) -> Server {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .strip_prefix("Serving the page on http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix("/ (Ctrl-C stops)\n"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no loopback URL in {line:?}"));
    Server { child, port }
}

/// The server run from the repository's top with `args`.
pub fn start(args: &[&str]) -> Server {
    spawn(command(&repo(), args))
}

/// One answer: status line, headers (`name: value` lines, names lowercased), body.
pub struct Answer {
    pub status: String,
    pub headers: String,
    pub body: Vec<u8>,
}

impl Answer {
    /// The value of header `name` (lowercase), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}: ");
        self.headers
            .lines()
            .find_map(|line| line.strip_prefix(prefix.as_str()))
    }
}

/// Sends `request_line`, `Host`, `extra` headers and `Connection: close`
/// (so the answer ends with the connection) and reads the answer.
pub fn get(port: u16, request_line: &str, extra: &str) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "{request_line}\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head ends");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    Answer {
        status: status.to_string(),
        headers: headers
            .lines()
            .map(|line| match line.split_once(':') {
                Some((name, value)) => format!("{}:{value}\n", name.to_lowercase()),
                None => format!("{line}\n"),
            })
            .collect(),
        body: raw[split + 4..].to_vec(),
    }
}
