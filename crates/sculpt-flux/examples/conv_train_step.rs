//! One measurement behind the built-in model's PyTorch recipe (models/sculpt-tiny/MODEL.md): the
//! time of one forward + backward pass of a 3×3 convolution, 32 → 32 channels, on a batch of 8
//! images of 64×64 (the autoencoder's top level), in candle on the CPU. The same step in PyTorch
//! is timed by `xtask/train/conv_train_step.py`. Run with one thread for both:
//!
//! `RAYON_NUM_THREADS=1 cargo run --release -p sculpt-flux --example conv_train_step`

#[cfg(not(target_arch = "wasm32"))]
fn main() -> candle_core::Result<()> {
    use candle_core::{Device, Tensor, Var};
    let device = Device::Cpu;
    let x = Var::randn(0f32, 1.0, (8, 32, 64, 64), &device)?;
    let w = Var::randn(0f32, 0.06, (32, 32, 3, 3), &device)?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = std::time::Instant::now();
        let y: Tensor = x.as_tensor().conv2d(w.as_tensor(), 1, 1, 1, 1)?;
        let loss = y.sqr()?.mean_all()?;
        let grads = loss.backward()?;
        let _ = (grads.get(&x).unwrap(), grads.get(&w).unwrap());
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "candle conv3x3 32->32, 8x64x64, forward+backward: median {:.1} ms",
        times[2] * 1e3
    );
    Ok(())
}

#[cfg(target_arch = "wasm32")]
fn main() {}
