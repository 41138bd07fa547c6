//! The embedding cache's command-line options.

use std::path::PathBuf;

use sentence_multitask::training::cache::EmbeddingCache;
use sentence_multitask::ModelFiles;

/// Where cached embeddings go unless `--cache-dir` says otherwise.
const DEFAULT_CACHE_DIR: &str = "target/embedding-cache";

/// Where embeddings are cached, as command-line options.
#[derive(clap::Args)]
pub struct CacheArgs {
    /// Directory for cached embeddings.
    #[arg(long, default_value = DEFAULT_CACHE_DIR)]
    cache_dir: PathBuf,
    /// Do not read or write cached embeddings.
    #[arg(long)]
    no_cache: bool,
}

impl CacheArgs {
    /// The cache these options describe, for the encoder built from `files`.
    pub fn open(&self, files: &ModelFiles) -> EmbeddingCache {
        EmbeddingCache::new((!self.no_cache).then(|| self.cache_dir.clone()), files)
    }
}
