//! The command line, shared by `sentence-multitask-serve` and
//! `sentence-multitask serve` (which flattens the same [`Args`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Limits, Server, Site};

/// Where the server listens and what it serves.
///
/// Relative directories, the defaults included, are taken from the current
/// directory: run it from the repository's top, or say where the files are.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Address to listen on. The default answers this machine only; give
    /// 0.0.0.0 to let other machines in.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one; the URL printed says which).
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
    /// The page's files. A relative path starts at the current directory,
    /// so the default is the repository's www/ when run from its top.
    #[arg(long, default_value = "www")]
    pub www: PathBuf,
    /// Model files, served under /weights/ (relative to the current
    /// directory, as --www).
    #[arg(long, env = "SENTENCE_MULTITASK_WEIGHTS", default_value = "weights")]
    pub weights: PathBuf,
    /// Serve --www as any static host would: no /weights/ or /DISCUSSION.md
    /// routes, no gzip copies, none of the page's headers; for `make dist`'s
    /// folder (`--plain --www dist`).
    #[arg(long)]
    pub plain: bool,
}

impl Args {
    /// What to serve, with the directories made absolute; an error names a
    /// directory that is not there.
    pub fn site(&self) -> Result<Site, Error> {
        let www = existing_dir("--www", &self.www)?;
        if self.plain {
            return Ok(Site::Plain { root: www });
        }
        let weights = existing_dir("--weights", &self.weights)?;
        if !www.join("pkg").is_dir() {
            eprintln!(
                "warning: {} has no pkg/ (the wasm build): run `make web` first",
                www.display()
            );
        }
        Ok(Site::Page { www, weights })
    }
}

/// Serves until the process ends, after printing
/// `Serving the page on http://HOST:PORT/ (Ctrl-C stops)` (scripts read the URL from it).
pub fn run(args: Args) -> Result<(), Error> {
    let site = args.site()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error {
            what: "the async runtime".into(),
            reason: e.to_string(),
        })?;
    runtime.block_on(async {
        let server = Server::bind(&args.host, args.port, &site, Limits::default()).await?;
        println!("Serving the page on {} (Ctrl-C stops)", server.url());
        std::io::stdout().flush().map_err(|e| Error {
            what: "stdout".into(),
            reason: e.to_string(),
        })?;
        server.run().await;
        Ok(())
    })
}

/// `dir` made absolute, if it is a directory.
fn existing_dir(flag: &str, dir: &Path) -> Result<PathBuf, Error> {
    dir.canonicalize()
        .ok()
        .filter(|path| path.is_dir())
        .ok_or_else(|| {
            let cwd = std::env::current_dir().unwrap_or_default();
            Error {
                what: format!("{flag} {}", dir.display()),
                reason: format!(
                    "no such directory (relative paths start at {}; run from the repository's top or give {flag} DIR)",
                    cwd.display()
                ),
            }
        })
}
