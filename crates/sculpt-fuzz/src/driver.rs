//! Running a target: first every corpus input as it is, then mutations of
//! them until the time or execution budget is spent. Each execution is
//! checked for a panic, a broken property, slowness and memory.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng, seq::IndexedRandom};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::allocations;
use crate::mutate;
use crate::targets::{Shape, Target};

/// An input that takes longer than this to parse is a failure (a file must
/// be refused or read quickly, however it is crafted).
pub const SLOW: Duration = Duration::from_secs(20);

/// The most bytes an input may make a target hold at once beyond what was
/// live before it: a fixed allowance (a 4096² start image decodes to
/// 64 MiB) plus 16 bytes per input byte.
pub fn memory_allowance(input_len: usize) -> usize {
    (256 << 20) + 16 * input_len
}

/// Failures kept per run (the first of each distinct message).
const MAX_FAILURES: usize = 20;

#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub time: Duration,
    /// Stop after this many executions, even with time left.
    pub executions: Option<u64>,
}

#[derive(Debug)]
pub struct Failure {
    pub input: Vec<u8>,
    pub what: String,
}

#[derive(Debug)]
pub struct Report {
    pub target: &'static str,
    pub executions: u64,
    pub failures: Vec<Failure>,
    pub elapsed: Duration,
    pub slowest: Duration,
    /// The most memory one input made the target hold (0 without the
    /// counting allocator).
    pub most_memory: usize,
}

/// Runs `target` on `corpus` and mutations of it, deterministically for
/// `seed`.
pub fn run(target: &'static Target, corpus: &[Vec<u8>], seed: u64, budget: Budget) -> Report {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let started = Instant::now();
    let mut report = Report {
        target: target.name,
        executions: 0,
        failures: Vec::new(),
        elapsed: Duration::ZERO,
        slowest: Duration::ZERO,
        most_memory: 0,
    };
    let documents: Vec<Option<Value>> = corpus
        .iter()
        .map(|input| serde_json::from_slice(input).ok())
        .collect();
    let quiet = QuietPanics::install();
    let spent = |report: &Report| {
        started.elapsed() >= budget.time
            || budget
                .executions
                .is_some_and(|limit| report.executions >= limit)
    };
    for input in corpus {
        execute(target, input.clone(), &mut report);
    }
    while !corpus.is_empty() && !spent(&report) {
        let pick = rng.random_range(0..corpus.len());
        let other = corpus.choose(&mut rng).unwrap();
        let input = mutated(
            &mut rng,
            target.shape,
            &corpus[pick],
            &documents[pick],
            other,
        );
        execute(target, input, &mut report);
    }
    drop(quiet);
    report.elapsed = started.elapsed();
    report
}

fn mutated(
    rng: &mut ChaCha8Rng,
    shape: Shape,
    input: &[u8],
    document: &Option<Value>,
    other: &[u8],
) -> Vec<u8> {
    match (shape, document) {
        (Shape::Json, Some(document)) if rng.random_bool(0.8) => {
            serde_json::to_vec(&mutate::json(rng, document)).expect("a Value serializes")
        }
        (Shape::Safetensors, _) if rng.random_bool(0.6) => {
            safetensors_header(rng, input).unwrap_or_else(|| mutate::bytes(rng, input, other))
        }
        _ => mutate::bytes(rng, input, other),
    }
}

/// A safetensors file with its JSON header's nodes changed; its length
/// field says the new header's length, or (sometimes) still the old one.
fn safetensors_header(rng: &mut ChaCha8Rng, input: &[u8]) -> Option<Vec<u8>> {
    let length = u64::from_le_bytes(input.get(..8)?.try_into().ok()?);
    let end = 8usize.checked_add(usize::try_from(length).ok()?)?;
    let header: Value = serde_json::from_slice(input.get(8..end)?).ok()?;
    let header = serde_json::to_vec(&mutate::json(rng, &header)).ok()?;
    let length = if rng.random_bool(0.9) {
        header.len() as u64
    } else {
        length
    };
    let mut out = length.to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&input[end..]);
    Some(out)
}

fn execute(target: &Target, input: Vec<u8>, report: &mut Report) {
    let before = allocations::reset_peak();
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| (target.check)(&input)));
    let elapsed = started.elapsed();
    let memory = allocations::peak().saturating_sub(before);
    report.executions += 1;
    report.slowest = report.slowest.max(elapsed);
    report.most_memory = report.most_memory.max(memory);
    let what = match outcome {
        Err(_) => Some(format!("panicked: {}", QuietPanics::last_message())),
        Ok(Err(broken)) => Some(broken),
        Ok(Ok(())) if elapsed > SLOW => Some(format!("took {:.1} s", elapsed.as_secs_f64())),
        Ok(Ok(())) if memory > memory_allowance(input.len()) => Some(format!(
            "held {memory} bytes at once for a {}-byte input",
            input.len()
        )),
        Ok(Ok(())) => None,
    };
    if let Some(what) = what
        && report.failures.len() < MAX_FAILURES
        && report.failures.iter().all(|failure| failure.what != what)
    {
        report.failures.push(Failure { input, what });
    }
}

thread_local! {
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// While installed, a panic's message is kept for the report instead of
/// printed; the previous hook comes back when dropped.
struct QuietPanics;

impl QuietPanics {
    fn install() -> Self {
        std::panic::set_hook(Box::new(|info| {
            let message = match info.payload().downcast_ref::<&str>() {
                Some(message) => message.to_string(),
                None => info
                    .payload()
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default(),
            };
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            LAST_PANIC.with(|last| *last.borrow_mut() = format!("{message}{place}"));
        }));
        QuietPanics
    }

    fn last_message() -> String {
        LAST_PANIC.with(|last| last.borrow().clone())
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        let _ = std::panic::take_hook();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PANICS_ON_ZERO: Target = Target {
        name: "test",
        shape: Shape::Binary,
        check: |bytes| {
            if bytes.first() == Some(&0) {
                panic!("a zero first byte");
            }
            if bytes.len() > 40 {
                return Err("too long".into());
            }
            Ok(())
        },
    };

    #[test]
    fn panics_and_broken_properties_are_found_and_kept_once() {
        let budget = Budget {
            time: Duration::from_secs(30),
            executions: Some(3000),
        };
        let report = run(&PANICS_ON_ZERO, &[b"abcdef".to_vec()], 1, budget);
        assert_eq!(report.executions, 3000);
        let whats: Vec<&str> = report.failures.iter().map(|f| f.what.as_str()).collect();
        assert!(
            whats
                .iter()
                .any(|w| w.starts_with("panicked: a zero first byte at ")),
            "{whats:?}"
        );
        assert!(whats.contains(&"too long"), "{whats:?}");
        assert_eq!(whats.len(), 2, "{whats:?}");
        let zero = report
            .failures
            .iter()
            .find(|f| f.what.starts_with("panicked"))
            .unwrap();
        assert_eq!(zero.input[0], 0);
    }

    #[test]
    fn a_header_mutation_keeps_the_file_a_safetensors_file() {
        let header = br#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(header);
        file.extend_from_slice(&[0, 0, 128, 63]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut changed = 0;
        for _ in 0..100 {
            let out = safetensors_header(&mut rng, &file).unwrap();
            assert_eq!(&out[out.len() - 4..], &[0, 0, 128, 63]);
            changed += usize::from(out != file);
        }
        assert!(changed > 80, "{changed} of 100 changed");
    }
}
