//! The CPU engine's denoising step and preview frame with the built-in
//! model, timed the same way natively and in wasm, so that the two can be
//! compared (and profiled) side by side: `cargo xtask bench cpu-wasm`
//! builds this for wasm32, runs it in Node under V8's sampling profiler,
//! runs it natively on one thread, and prints both.
//!
//! Natively: `RAYON_NUM_THREADS=1 cargo run --release --features cpu
//! --example cpu_steps`. In wasm the files are built in and `run` is
//! exported to JavaScript; natively they are read from `models/`.

use sculpt_flux::cpu::CpuPipeline;
use sculpt_flux::formats::MemorySource;
use sculpt_flux::generation::{Decode, Pipeline, Show};
use sculpt_flux::pipeline::{GenerateRequest, Manifest, ModelDefaults, ModelFiles};

/// The built-in model's files by their manifest paths.
#[cfg(target_arch = "wasm32")]
fn model_file(path: &str) -> Vec<u8> {
    macro_rules! built_in {
        ($($name:literal),*) => {
            match path {
                $($name => include_bytes!(concat!("../../../models/sculpt-tiny/", $name)).to_vec(),)*
                other => panic!("the built-in model has no file {other}"),
            }
        };
    }
    built_in!(
        "manifest.json",
        "transformer.gguf",
        "autoencoder.safetensors",
        "clip.safetensors",
        "t5.safetensors",
        "clip-tokenizer.json",
        "t5-tokenizer.json",
        "preview.safetensors"
    )
}

#[cfg(not(target_arch = "wasm32"))]
fn model_file(path: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/sculpt-tiny");
    std::fs::read(dir.join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Milliseconds from a fixed origin.
#[cfg(target_arch = "wasm32")]
fn now_ms() -> f64 {
    use js_sys::{Function, Reflect, global};
    use wasm_bindgen::JsCast;
    // `performance.now()`, in Node as in a browser (Date.now() counts whole ms).
    let performance = Reflect::get(&global(), &"performance".into()).unwrap();
    let now: Function = Reflect::get(&performance, &"now".into())
        .unwrap()
        .unchecked_into();
    now.call0(&performance).unwrap().as_f64().unwrap()
}

#[cfg(not(target_arch = "wasm32"))]
fn now_ms() -> f64 {
    use std::sync::OnceLock;
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    ORIGIN
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64()
        * 1e3
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Opens the built-in model on the CPU, runs `runs` generations of its
/// default steps at its default size, and returns one JSON object: the
/// medians of a step and of a preview frame, and each step's time.
fn measure(runs: usize) -> String {
    let manifest = Manifest::from_json("manifest.json", &model_file("manifest.json")).unwrap();
    let files = pollster_free::block_on(ModelFiles::<MemorySource<Vec<u8>>>::of_manifest(
        &manifest,
        async |file| {
            Ok::<_, sculpt_flux::pipeline::ManifestError>(MemorySource::new(
                &file.path,
                model_file(&file.path),
            ))
        },
        async |file| Ok(model_file(&file.path)),
    ))
    .unwrap();
    let defaults = ModelDefaults::of_manifest(&manifest);
    let mut pipeline = pollster_free::block_on(CpuPipeline::open(
        defaults.clone(),
        manifest.config.clone(),
        files,
    ))
    .unwrap();
    let request = GenerateRequest {
        prompt: "a red circle on a blue background".into(),
        width: defaults.resolution[0],
        height: defaults.resolution[1],
        steps: defaults.steps,
        seed: 1,
        guidance: None,
        cfg_scale: None,
        init_image: None,
    };
    let (mut steps, mut previews) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut generation = pollster_free::block_on(pipeline.start(&request)).unwrap();
        while !generation.finished() {
            let started = now_ms();
            generation.step().unwrap();
            steps.push(now_ms() - started);
            let latent = generation.latent(Show::Current);
            let started = now_ms();
            pollster_free::block_on(generation.frame_by(latent, Decode::Preview)).unwrap();
            previews.push(now_ms() - started);
        }
    }
    let list = |times: &[f64]| {
        times
            .iter()
            .map(|t| format!("{t:.2}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"step_ms":{:.2},"frame_preview_ms":{:.2},"steps":{},"step_times_ms":[{}],"preview_times_ms":[{}]}}"#,
        median(steps.clone()),
        median(previews.clone()),
        steps.len(),
        list(&steps),
        list(&previews)
    )
}

/// The CPU backend's futures complete when first polled (candle computes
/// as it is called), so one poll runs them; no executor is needed.
mod pollster_free {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    pub fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("a CPU future waited on something"),
        }
    }
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn run(runs: usize) -> String {
    measure(runs)
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let runs = std::env::args()
        .nth(1)
        .map_or(3, |runs| runs.parse().expect("runs is a number"));
    println!("{}", measure(runs));
}
