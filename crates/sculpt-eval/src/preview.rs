//! The built-in model's preview decoder: fitted here to its own autoencoder, and measured.
//!
//! A preview decoder ([`PreviewDecoder`]) is linear in the latent, so the best one for a set of
//! (latent, full decode) pairs is a least-squares solution, not a training run: every latent
//! pixel's k×k neighbourhood (k² · channels values and a 1) predicts the 3·f² values of the f×f
//! pixels it covers. [`fit`] solves the ridge-regularised normal equations by Cholesky.
//!
//! The pairs come from real generations ([`collect`]): the latents x_t and x̂₀ of the later steps
//! of runs of training-like prompts, each decoded by the full autoencoder. [`measure`] reports
//! the PSNR of a preview against the full decode of the same latent, on held-out prompts.

use sculpt_flux::generation::{Frame, Pipeline, Show};
use sculpt_flux::models::preview::PreviewDecoder;
use sculpt_gpu::kernels::frame::to_rgba8_cpu;

/// One latent and what the full decoder makes of it.
pub struct Pair {
    /// [channels, height, width], the transformer's latent.
    pub latent: Vec<f32>,
    pub frame: Frame,
}

/// The latent grid and channels of a set of pairs.
#[derive(Clone, Copy, Debug)]
pub struct LatentSize {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// Runs `prompts` (each with `seed`) for `steps` steps and keeps, from step `from` on, each
/// step's x_t (and its x̂₀ when `with_predicted`) and its full decode.
pub fn collect<P: Pipeline>(
    pipeline: &mut P,
    prompts: &[String],
    seed: u64,
    steps: usize,
    from: usize,
    with_predicted: bool,
) -> anyhow::Result<(LatentSize, Vec<Pair>)> {
    let mut pairs = Vec::new();
    let mut size = None;
    for prompt in prompts {
        let request = crate::generator::request(pipeline.defaults(), prompt, seed, steps);
        let mut generation = pollster::block_on(pipeline.start(&request))?;
        let shape = *generation.shape();
        size = Some(LatentSize {
            channels: shape.channels,
            height: shape.height,
            width: shape.width,
        });
        while let Some(step) = generation.step()? {
            if step.index < from {
                continue;
            }
            let shows: &[Show] = if with_predicted {
                &[Show::Current, Show::PredictedClean]
            } else {
                &[Show::Current]
            };
            for &show in shows {
                let latent = generation.latent(show);
                pairs.push(Pair {
                    latent: pollster::block_on(generation.latent_values(latent))?,
                    frame: pollster::block_on(generation.frame_of(latent))?,
                });
            }
        }
    }
    let size = size.ok_or_else(|| anyhow::anyhow!("no prompts to collect from"))?;
    Ok((size, pairs))
}

/// The least-squares preview decoder of `kernel` × `kernel` neighbourhoods and `factor` × `factor`
/// pixels per latent pixel for `pairs`, with ridge `ridge` (relative to the features' mean
/// square).
pub fn fit(
    pairs: &[Pair],
    size: LatentSize,
    kernel: usize,
    factor: usize,
    ridge: f64,
) -> anyhow::Result<PreviewDecoder> {
    let LatentSize {
        channels,
        height,
        width,
    } = size;
    let features = channels * kernel * kernel + 1;
    let outputs = 3 * factor * factor;
    let mut gram = vec![0.0f64; features * features];
    let mut cross = vec![0.0f64; features * outputs];
    let mut row = vec![0.0f64; features];
    let mut target = vec![0.0f64; outputs];
    let reach = (kernel / 2) as isize;
    for pair in pairs {
        let frame = &pair.frame;
        anyhow::ensure!(
            frame.width == width * factor && frame.height == height * factor,
            "a {}×{} frame is not {factor}× a {width}×{height} latent",
            frame.width,
            frame.height
        );
        for y in 0..height {
            for x in 0..width {
                for channel in 0..channels {
                    for ky in 0..kernel {
                        for kx in 0..kernel {
                            let (ly, lx) = (
                                y as isize + ky as isize - reach,
                                x as isize + kx as isize - reach,
                            );
                            let inside = ly >= 0
                                && lx >= 0
                                && (ly as usize) < height
                                && (lx as usize) < width;
                            row[(channel * kernel + ky) * kernel + kx] = if inside {
                                f64::from(
                                    pair.latent
                                        [(channel * height + ly as usize) * width + lx as usize],
                                )
                            } else {
                                0.0
                            };
                        }
                    }
                }
                row[features - 1] = 1.0;
                for (output, value) in target.iter_mut().enumerate() {
                    let (colour, within) = (output / (factor * factor), output % (factor * factor));
                    let (py, px) = (y * factor + within / factor, x * factor + within % factor);
                    let byte = frame.rgba[(py * frame.width + px) * 4 + colour];
                    *value = f64::from(byte) / 127.5 - 1.0;
                }
                for i in 0..features {
                    for j in 0..features {
                        gram[i * features + j] += row[i] * row[j];
                    }
                    for (o, t) in target.iter().enumerate() {
                        cross[i * outputs + o] += row[i] * t;
                    }
                }
            }
        }
    }
    let mean_square = (0..features - 1)
        .map(|i| gram[i * features + i])
        .sum::<f64>()
        / (features - 1) as f64;
    // The bias is not shrunk.
    for i in 0..features - 1 {
        gram[i * features + i] += ridge * mean_square;
    }
    let solution = solve_symmetric(&mut gram, &cross, features, outputs)?;
    let mut weight = vec![0.0f32; outputs * (features - 1)];
    for output in 0..outputs {
        for feature in 0..features - 1 {
            weight[output * (features - 1) + feature] = solution[feature * outputs + output] as f32;
        }
    }
    let bias = (0..outputs)
        .map(|output| solution[(features - 1) * outputs + output] as f32)
        .collect();
    PreviewDecoder::new(channels, kernel, factor, weight, bias).map_err(anyhow::Error::msg)
}

/// Solves `a · x = b` for a symmetric positive-definite `a` (n × n, overwritten by its Cholesky
/// factor) and `b` (n × m); returns x (n × m).
fn solve_symmetric(a: &mut [f64], b: &[f64], n: usize, m: usize) -> anyhow::Result<Vec<f64>> {
    // a = L·Lᵀ, L in the lower triangle.
    for j in 0..n {
        let diagonal = a[j * n + j] - (0..j).map(|k| a[j * n + k] * a[j * n + k]).sum::<f64>();
        anyhow::ensure!(
            diagonal > 0.0,
            "the normal equations are singular (feature {j}): collect more pairs or raise the ridge"
        );
        let pivot = diagonal.sqrt();
        a[j * n + j] = pivot;
        for i in j + 1..n {
            let dot = (0..j).map(|k| a[i * n + k] * a[j * n + k]).sum::<f64>();
            a[i * n + j] = (a[i * n + j] - dot) / pivot;
        }
    }
    let mut x = b.to_vec();
    for column in 0..m {
        // L·y = b, then Lᵀ·x = y.
        for i in 0..n {
            let dot = (0..i)
                .map(|k| a[i * n + k] * x[k * m + column])
                .sum::<f64>();
            x[i * m + column] = (x[i * m + column] - dot) / a[i * n + i];
        }
        for i in (0..n).rev() {
            let dot = (i + 1..n)
                .map(|k| a[k * n + i] * x[k * m + column])
                .sum::<f64>();
            x[i * m + column] = (x[i * m + column] - dot) / a[i * n + i];
        }
    }
    Ok(x)
}

/// PSNR in dB between two RGBA8 frames of one size, over the colour channels.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "frames of one size");
    let (mut sum, mut count) = (0.0f64, 0usize);
    for (pixel_a, pixel_b) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for colour in 0..3 {
            let difference = f64::from(pixel_a[colour]) - f64::from(pixel_b[colour]);
            sum += difference * difference;
            count += 1;
        }
    }
    let mse = sum / count as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// How close a preview comes to the full decode over a set of pairs.
#[derive(Clone, Copy, Debug)]
pub struct Fidelity {
    pub mean_psnr: f64,
    pub min_psnr: f64,
    pub frames: usize,
}

/// The PSNR of `preview` (drawn as the engine draws it, through RGBA8) against each pair's full
/// decode.
pub fn measure(preview: &PreviewDecoder, size: LatentSize, pairs: &[Pair]) -> Fidelity {
    let values: Vec<f64> = pairs
        .iter()
        .map(|pair| {
            let image = preview.decode(&pair.latent, size.height, size.width);
            let rgba = to_rgba8_cpu(&image, pair.frame.width, pair.frame.height);
            psnr(&rgba, &pair.frame.rgba)
        })
        .collect();
    Fidelity {
        mean_psnr: values.iter().sum::<f64>() / values.len().max(1) as f64,
        min_psnr: values.iter().copied().fold(f64::INFINITY, f64::min),
        frames: values.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_a_preview_that_made_the_pairs() {
        // Frames drawn by a known 3×3 decoder are fitted back to it (to the 8-bit rounding).
        let size = LatentSize {
            channels: 2,
            height: 4,
            width: 4,
        };
        let outputs = 3 * 4;
        let weight: Vec<f32> = (0..outputs * 2 * 9)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 200.0)
            .collect();
        let truth = PreviewDecoder::new(
            2,
            3,
            2,
            weight,
            (0..outputs).map(|i| i as f32 / 50.0).collect(),
        )
        .unwrap();
        let pairs: Vec<Pair> = (0..40)
            .map(|n| {
                let latent: Vec<f32> = (0..32)
                    .map(|i| (((i * 7 + n * 13) % 17) as f32 - 8.0) / 8.0)
                    .collect();
                let image = truth.decode(&latent, 4, 4);
                Pair {
                    latent,
                    frame: Frame {
                        width: 8,
                        height: 8,
                        rgba: to_rgba8_cpu(&image, 8, 8),
                    },
                }
            })
            .collect();
        let fitted = fit(&pairs, size, 3, 2, 1e-9).unwrap();
        let fidelity = measure(&fitted, size, &pairs);
        assert!(fidelity.min_psnr > 45.0, "{fidelity:?}");
        let measured_truth = measure(&truth, size, &pairs);
        assert!(measured_truth.min_psnr.is_infinite(), "{measured_truth:?}");
    }

    #[test]
    fn psnr_of_a_known_difference() {
        // Every colour off by 5: MSE 25, PSNR 10·log10(65025 / 25) = 34.15 dB.
        let a = [10u8, 20, 30, 255, 40, 50, 60, 255];
        let b = [15u8, 25, 35, 255, 45, 55, 65, 0];
        assert!((psnr(&a, &b) - 34.151).abs() < 1e-3);
    }
}
