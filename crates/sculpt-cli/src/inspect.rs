//! `sculpt inspect`: what each weight file is, from its header.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sculpt_flux::checkpoint::{Summary, summarize};
use sculpt_flux::formats::{ByteSource, FileSource};
use sculpt_flux::pipeline::shard_set;
use sculpt_flux::weights::FileWeights;

/// Prints a summary per file (the shards of one checkpoint together); a
/// file that cannot be recognized is reported on stderr and the others are
/// still inspected.
pub fn run(files: &[PathBuf]) -> anyhow::Result<()> {
    let mut sets: std::collections::BTreeMap<_, Vec<PathBuf>> = Default::default();
    for path in files {
        sets.entry(shard_set(&path.to_string_lossy()))
            .or_default()
            .push(path.clone());
    }
    let mut failed = 0;
    for (_, mut shards) in sets {
        shards.sort();
        match inspect_shards(&shards) {
            Ok(summary) => print!("{summary}"),
            Err(error) => {
                eprintln!("error: {error:#}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of the given checkpoints could not be inspected");
    }
    Ok(())
}

fn inspect_shards(paths: &[PathBuf]) -> anyhow::Result<Summary> {
    let sources = paths
        .iter()
        .map(|path| open(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let file_bytes = sources.iter().map(|source| source.len()).sum();
    let weights = pollster::block_on(FileWeights::open_shards(sources))?;
    Ok(summarize(weights.name(), file_bytes, weights.index())?)
}

fn open(path: &Path) -> anyhow::Result<FileSource> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    FileSource::new(file, path.display().to_string())
        .with_context(|| format!("cannot read {}", path.display()))
}
