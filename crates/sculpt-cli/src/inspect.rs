//! `sculpt inspect`: what each weight file is, from its header.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, bail};
use sculpt_flux::checkpoint::inspect;
use sculpt_flux::formats::FileSource;

/// Prints a summary per file; a file that cannot be recognized is reported
/// on stderr and the others are still inspected.
pub fn run(files: &[impl AsRef<Path>]) -> anyhow::Result<()> {
    let mut failed = 0;
    for path in files {
        match inspect_one(path.as_ref()) {
            Ok(summary) => print!("{summary}"),
            Err(error) => {
                eprintln!("error: {error:#}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} files could not be inspected", files.len());
    }
    Ok(())
}

fn inspect_one(path: &Path) -> anyhow::Result<sculpt_flux::checkpoint::Summary> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut source = FileSource::new(file, path.display().to_string())
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(pollster::block_on(inspect(&mut source))?)
}
