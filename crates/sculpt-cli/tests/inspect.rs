//! `sculpt inspect` on files written here: what it prints for a recognized
//! file, and that an unknown file fails with the file and tensor named.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use sculpt_flux::checkpoint::{flux_layout, t5_layout};
use sculpt_flux::formats::{Dtype, Encoding, TensorToWrite, safetensors_bytes};
use sculpt_flux::models::flux1::FluxConfig;
use sculpt_flux::models::t5::T5Config;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sculpt-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_zeros(path: &PathBuf, tensors: &[(String, Vec<u64>)], dtype: Dtype) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, shape)| vec![0; shape.iter().product::<u64>() as usize * dtype.size() as usize])
        .collect();
    let to_write: Vec<TensorToWrite> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape), bytes)| TensorToWrite {
            name,
            shape,
            encoding: Encoding::Plain(dtype),
            bytes,
        })
        .collect();
    std::fs::write(
        path,
        safetensors_bytes(&to_write, &BTreeMap::new()).unwrap(),
    )
    .unwrap();
}

/// What `sculpt inspect` prints for `files`, which it must not refuse.
fn inspected(files: &[&PathBuf]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .arg("inspect")
        .args(files)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn inspect_reports_role_variant_counts_and_refuses_unknown_files() {
    let dir = TempDir::new("inspect");
    let tiny = dir.0.join("tiny-dev.safetensors");
    let layout: Vec<(String, Vec<u64>)> = flux_layout(&FluxConfig::tiny(true))
        .into_iter()
        .map(|t| (t.name, t.shape.iter().map(|&d| d as u64).collect()))
        .collect();
    let parameters: u64 = layout.iter().map(|(_, s)| s.iter().product::<u64>()).sum();
    write_zeros(&tiny, &layout, Dtype::BF16);
    let unknown = dir.0.join("unknown.safetensors");
    write_zeros(
        &unknown,
        &[("lm_head.weight".into(), vec![2, 2])],
        Dtype::F32,
    );

    let stdout = inspected(&[&tiny]);
    assert!(stdout.contains("role:       FLUX transformer"), "{stdout}");
    assert!(stdout.contains("variant:    dev"), "{stdout}");
    assert!(
        stdout.contains(&format!("tensors:    {}", layout.len())),
        "{stdout}"
    );
    let with_commas = sculpt_flux::checkpoint::thousands(parameters);
    assert!(
        stdout.contains(&format!("parameters: {with_commas}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{} of tensor data",
            sculpt_flux::checkpoint::thousands(2 * parameters)
        )),
        "{stdout}"
    );
    assert!(stdout.contains("BF16"), "{stdout}");

    let output = Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .arg("inspect")
        .arg(&unknown)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("unknown.safetensors: "), "{stderr}");
    assert!(stderr.contains("'lm_head.weight'"), "{stderr}");
}

#[test]
fn the_shards_of_one_checkpoint_are_inspected_as_one() {
    use sculpt_flux::checkpoint::t5_layout;
    use sculpt_flux::models::t5::T5Config;
    let dir = TempDir::new("inspect-shards");
    let layout: Vec<(String, Vec<u64>)> = t5_layout(&T5Config::tiny())
        .into_iter()
        .filter(|t| !t.optional || t.name == "shared.weight")
        .map(|t| (t.name, t.shape.iter().map(|&d| d as u64).collect()))
        .collect();
    let (first, second): (Vec<_>, Vec<_>) = layout
        .into_iter()
        .partition(|(name, _)| name.starts_with("encoder.block.0.") || name == "shared.weight");
    let one = dir.0.join("model-00001-of-00002.safetensors");
    let two = dir.0.join("model-00002-of-00002.safetensors");
    write_zeros(&one, &first, Dtype::F32);
    write_zeros(&two, &second, Dtype::F32);
    let output = Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .arg("inspect")
        .arg(&two)
        .arg(&one)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("model-00001-of-00002.safetensors (and 1 more shard)"),
        "{stdout}"
    );
    assert!(stdout.contains("role:       T5 encoder"), "{stdout}");
    assert_eq!(stdout.matches("role:").count(), 1, "{stdout}");
}

/// A valid file always gets its summary: a transformer whose 16-wide heads
/// leave its rotary split to be given, and a T5 whose 4096-wide heads are
/// wider than the attention kernel takes, are described (exit 0) with what
/// is missing and how to give it; a T5 with 8-wide heads runs.
#[test]
fn files_sculpt_cannot_run_are_described() {
    let dir = TempDir::new("inspect-narrow");
    let shapes = |layout: Vec<sculpt_flux::checkpoint::ExpectedTensor>| -> Vec<(String, Vec<u64>)> {
        layout
            .into_iter()
            .filter(|t| !t.optional || t.name == "shared.weight")
            .map(|t| (t.name, t.shape.iter().map(|&d| d as u64).collect()))
            .collect()
    };
    let dit = dir.0.join("dit-16.safetensors");
    let sixteen = FluxConfig {
        hidden_size: 64,
        num_heads: 4,
        ..FluxConfig::tiny(false)
    };
    write_zeros(&dit, &shapes(flux_layout(&sixteen)), Dtype::F32);
    let t5 = dir.0.join("t5-wide.safetensors");
    let wide = T5Config {
        d_kv: 4096,
        num_heads: 1,
        ..T5Config::tiny()
    };
    write_zeros(&t5, &shapes(t5_layout(&wide)), Dtype::F32);
    let t5_narrow = dir.0.join("t5-8.safetensors");
    let narrow = T5Config {
        d_kv: 8,
        num_heads: 2,
        ..T5Config::tiny()
    };
    write_zeros(&t5_narrow, &shapes(t5_layout(&narrow)), Dtype::F32);

    let stdout = inspected(&[&dit, &t5, &t5_narrow]);
    assert!(stdout.contains("role:       FLUX transformer"), "{stdout}");
    assert!(
        stdout.contains("variant:    unknown: its heads are 16 wide"),
        "{stdout}"
    );
    assert!(stdout.contains("sculpt forward --config"), "{stdout}");
    assert_eq!(
        stdout.matches("role:       T5 encoder").count(),
        2,
        "{stdout}"
    );
    assert!(
        stdout.contains("variant:    d_model 64, 2 layers, 1 heads"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "runs:       not on Sculpt's kernels yet: T5 configuration: 1 heads of 4096: the \
             attention kernel needs at least one head, 1 to 2048 wide"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("variant:    d_model 64, 2 layers, 2 heads"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("runs:").count(), 1, "{stdout}");
}

/// Broken weight files, as the fuzzer makes them from its seeds (cut,
/// flipped, lengths and counts overwritten with huge values), inspected in
/// one process whose address space is capped at 4 GB: every file gets its
/// summary or an error line, and the process ends by itself (no abort from
/// a refused allocation, no hang).
#[test]
fn broken_files_are_refused_within_4_gb_of_address_space() {
    use rand::SeedableRng;

    let dir = TempDir::new("inspect-broken");
    let mut files = Vec::new();
    for (target, extension) in [("safetensors", "safetensors"), ("gguf", "gguf")] {
        let corpus = sculpt_fuzz::seeds::corpus(target).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        for index in 0..150 {
            let (_, seed) = &corpus[index % corpus.len()];
            let (_, other) = &corpus[(index + 1) % corpus.len()];
            let path = dir.0.join(format!("broken-{index:03}.{extension}"));
            std::fs::write(&path, sculpt_fuzz::mutate::bytes(&mut rng, seed, other)).unwrap();
            files.push(path);
        }
    }
    let started = std::time::Instant::now();
    let output = Command::new("prlimit")
        .arg(format!("--as={}", 4u64 << 30))
        .arg(env!("CARGO_BIN_EXE_sculpt"))
        .arg("inspect")
        .args(&files)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    // 1: some files could not be inspected, which is the point; a signal
    // (an abort) has no code.
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{:?}\n{stderr}",
        output.status
    );
    let summaries = stdout.matches("  role:").count();
    // One `error: <file>: <why>` line per refused file.
    let refused = stderr.lines().filter(|l| l.starts_with("error: ")).count();
    assert_eq!(summaries + refused, files.len(), "{stdout}\n{stderr}");
    assert!(refused > 100, "only {refused} of {} refused", files.len());
    assert!(elapsed.as_secs() < 20, "took {elapsed:?}");
}
