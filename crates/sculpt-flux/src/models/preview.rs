//! The preview decoder: a frame for every denoising step for almost nothing.
//!
//! The autoencoder's decoder costs far more than a step of a small model
//! (and a large share of a big one's), yet a step's picture is replaced one
//! step later. A preview decoder maps each latent pixel, with its k×k
//! neighbourhood, to the f×f image pixels it covers: one k×k convolution
//! from the latent's channels to 3·f² values, spread over f×f pixels
//! (depth to space, PyTorch's `pixel_shuffle`). It reads the transformer's
//! latent (after the autoencoder's scale and shift), as ComfyUI's previews
//! do, and writes an image in about [−1, 1] as the decoder does.
//!
//! Two kinds exist:
//! - the linear projection ([`PreviewDecoder::linear`]): three numbers per
//!   latent channel and a bias, each latent pixel an f×f block of one
//!   colour. FLUX.1's are ComfyUI's ([`PreviewDecoder::flux1`]);
//! - a fitted one (k = 3, f = 8): the built-in model ships
//!   `preview.safetensors`, fitted by least squares to its own
//!   autoencoder's decodes (`sculpt-eval --fit-preview`).

use crate::formats::MemorySource;
use crate::weights::{FileWeights, TensorData, TensorUse};

/// The tensors of a preview decoder's file.
pub const WEIGHT: &str = "preview.weight";
pub const BIAS: &str = "preview.bias";

/// A latent → RGB decoder cheap enough to run at every step.
#[derive(Clone, Debug, PartialEq)]
pub struct PreviewDecoder {
    /// Latent channels it reads.
    pub channels: usize,
    /// The neighbourhood each latent pixel is read with (odd; zero padded).
    pub kernel: usize,
    /// Image pixels per latent pixel along each axis.
    pub factor: usize,
    /// [3·f², channels, k, k]: output channel `c·f² + dy·f + dx` is colour
    /// `c` of the pixel `(dy, dx)` within the latent pixel's f×f block.
    pub weight: Vec<f32>,
    /// [3·f²].
    pub bias: Vec<f32>,
}

/// FLUX.1's latent → RGB factors, one row per latent channel, and their
/// bias: ComfyUI's `comfy/latent_formats.py`, class `Flux`
/// (`latent_rgb_factors`, `latent_rgb_factors_bias`), fitted there to the
/// FLUX.1 autoencoder's decodes.
const FLUX1_RGB_FACTORS: [[f32; 3]; 16] = [
    [-0.0346, 0.0244, 0.0681],
    [0.0034, 0.0210, 0.0687],
    [0.0275, -0.0668, -0.0433],
    [-0.0174, 0.0160, 0.0617],
    [0.0859, 0.0721, 0.0329],
    [0.0004, 0.0383, 0.0115],
    [0.0405, 0.0861, 0.0915],
    [-0.0236, -0.0185, -0.0259],
    [-0.0245, 0.0250, 0.1180],
    [0.1008, 0.0755, -0.0421],
    [-0.0515, 0.0201, 0.0011],
    [0.0428, -0.0012, -0.0036],
    [0.0817, 0.0765, 0.0749],
    [-0.1264, -0.0522, -0.1103],
    [-0.0280, -0.0881, -0.0499],
    [-0.1262, -0.0982, -0.0778],
];
const FLUX1_RGB_BIAS: [f32; 3] = [-0.0329, -0.0718, -0.0851];

impl PreviewDecoder {
    /// Checks that the parts fit together.
    pub fn new(
        channels: usize,
        kernel: usize,
        factor: usize,
        weight: Vec<f32>,
        bias: Vec<f32>,
    ) -> Result<Self, String> {
        if channels == 0 || factor == 0 || kernel.is_multiple_of(2) {
            return Err(format!(
                "a preview decoder of {channels} channels, kernel {kernel} and factor {factor}: \
                 needs channels and a factor above 0 and an odd kernel"
            ));
        }
        let outputs = 3 * factor * factor;
        if weight.len() != outputs * channels * kernel * kernel || bias.len() != outputs {
            return Err(format!(
                "a preview decoder's weight is [{outputs}, {channels}, {kernel}, {kernel}] and \
                 its bias [{outputs}], not {} and {} values",
                weight.len(),
                bias.len()
            ));
        }
        Ok(Self {
            channels,
            kernel,
            factor,
            weight,
            bias,
        })
    }

    /// The linear projection: each latent pixel's colour is
    /// `Σ_c latent[c]·factors[c] + bias`, drawn as an f×f block.
    pub fn linear(factors: &[[f32; 3]], bias: [f32; 3], factor: usize) -> Self {
        let channels = factors.len();
        let per_colour = factor * factor;
        let mut weight = Vec::with_capacity(3 * per_colour * channels);
        let mut biases = Vec::with_capacity(3 * per_colour);
        for colour in 0..3 {
            for _ in 0..per_colour {
                weight.extend(factors.iter().map(|row| row[colour]));
                biases.push(bias[colour]);
            }
        }
        Self::new(channels, 1, factor, weight, biases).expect("a linear preview is consistent")
    }

    /// FLUX.1's linear preview (ComfyUI's factors) for its 8× autoencoder.
    pub fn flux1() -> Self {
        Self::linear(&FLUX1_RGB_FACTORS, FLUX1_RGB_BIAS, 8)
    }

    /// The preview a model draws its steps with: its own (`file`, a
    /// preview.safetensors) when it has one, which must fit its latent (an
    /// error naming the file otherwise); else FLUX.1's projection for a
    /// 16-channel latent 8× smaller than the image; `None` when that does
    /// not fit either (the steps are then drawn by the full decoder).
    pub async fn for_model(
        file: Option<(&str, &[u8])>,
        latent_channels: usize,
        downsampling: usize,
    ) -> Result<Option<Self>, String> {
        let fits = |p: &Self| p.channels == latent_channels && p.factor == downsampling;
        match file {
            Some((name, bytes)) => {
                let own = Self::from_safetensors(name, bytes).await?;
                if !fits(&own) {
                    return Err(format!(
                        "{name}: the preview reads {} latent channels and draws {}×{} pixels per \
                         latent pixel, but the model's latent has {latent_channels} channels and \
                         {downsampling}×{downsampling} pixels per latent pixel",
                        own.channels, own.factor, own.factor
                    ));
                }
                Ok(Some(own))
            }
            None => Ok(Some(Self::flux1()).filter(fits)),
        }
    }

    /// Reads `preview.weight` [3·f², channels, k, k] and `preview.bias`;
    /// the error names the file `name`.
    pub async fn from_safetensors(name: &str, bytes: &[u8]) -> Result<Self, String> {
        let invalid = |detail: String| format!("{name}: {detail}");
        let mut file = FileWeights::open(MemorySource::new(name.to_owned(), bytes))
            .await
            .map_err(|e| e.to_string())?;
        let mut read = async |tensor: &str| match file
            .read(tensor, TensorUse::Values)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(found) => match found.data {
                TensorData::F32(values) => Ok((found.shape, values)),
                TensorData::Packed(_) => Err(invalid(format!("{tensor} is not plain numbers"))),
            },
            None => Err(invalid(format!("has no {tensor} tensor"))),
        };
        let (shape, weight) = read(WEIGHT).await?;
        let (_, bias) = read(BIAS).await?;
        let &[outputs, channels, kernel, kernel_width] = shape.as_slice() else {
            return Err(invalid(format!(
                "{WEIGHT} is {shape:?}, not [3·f², channels, k, k]"
            )));
        };
        let factor = (outputs / 3).isqrt();
        if kernel != kernel_width || 3 * factor * factor != outputs {
            return Err(invalid(format!(
                "{WEIGHT} is {shape:?}: not a square kernel with 3·f² outputs"
            )));
        }
        Self::new(channels, kernel, factor, weight, bias).map_err(invalid)
    }

    /// The file [`Self::from_safetensors`] reads.
    pub fn to_safetensors(&self) -> Vec<u8> {
        let outputs = self.outputs();
        let weight_shape = [outputs, self.channels, self.kernel, self.kernel];
        crate::formats::f32_safetensors_bytes([
            (WEIGHT, weight_shape.as_slice(), self.weight.as_slice()),
            (BIAS, [outputs].as_slice(), self.bias.as_slice()),
        ])
        .expect("f32 tensors always write")
    }

    /// Output channels of the convolution: 3·f².
    pub fn outputs(&self) -> usize {
        3 * self.factor * self.factor
    }

    /// Multiply-adds to preview a `height` × `width` latent.
    pub fn multiply_adds(&self, height: usize, width: usize) -> usize {
        height * width * self.outputs() * self.channels * self.kernel * self.kernel
    }

    /// The preview of `latent` [channels, height, width] as [3, height·f,
    /// width·f], computed plainly: the reference the backends are tested
    /// against, and what the fit measures itself with.
    pub fn decode(&self, latent: &[f32], height: usize, width: usize) -> Vec<f32> {
        assert_eq!(latent.len(), self.channels * height * width, "latent size");
        let (f, k) = (self.factor, self.kernel);
        let reach = (k / 2) as isize;
        let (out_height, out_width) = (height * f, width * f);
        let mut image = vec![0.0; 3 * out_height * out_width];
        for y in 0..height {
            for x in 0..width {
                for output in 0..self.outputs() {
                    let mut sum = self.bias[output];
                    for channel in 0..self.channels {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (ly, lx) = (
                                    y as isize + ky as isize - reach,
                                    x as isize + kx as isize - reach,
                                );
                                if ly < 0 || lx < 0 || ly >= height as isize || lx >= width as isize
                                {
                                    continue;
                                }
                                let value =
                                    latent[(channel * height + ly as usize) * width + lx as usize];
                                sum += self.weight
                                    [((output * self.channels + channel) * k + ky) * k + kx]
                                    * value;
                            }
                        }
                    }
                    let (colour, within) = (output / (f * f), output % (f * f));
                    let (dy, dx) = (within / f, within % f);
                    image[(colour * out_height + y * f + dy) * out_width + x * f + dx] = sum;
                }
            }
        }
        image
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn the_linear_preview_paints_each_latent_pixel_as_a_block_of_its_projected_colour() {
        let factors = [[1.0, 0.0, 0.5], [0.0, 2.0, -1.0]];
        let preview = PreviewDecoder::linear(&factors, [0.1, 0.2, 0.3], 2);
        // A 1×2 latent: pixel 0 is (1, 0), pixel 1 is (0, 1).
        let latent = [1.0, 0.0, 0.0, 1.0];
        let image = preview.decode(&latent, 1, 2);
        // By hand: pixel 0 → (1.1, 0.2, 0.8), pixel 1 → (0.1, 2.2, −0.7),
        // each a 2×2 block of a 2×4 image.
        let expected_rows = [
            [1.1, 1.1, 0.1, 0.1],
            [0.2, 0.2, 2.2, 2.2],
            [0.8, 0.8, -0.7, -0.7],
        ];
        for (colour, row) in expected_rows.iter().enumerate() {
            for y in 0..2 {
                for (x, expected) in row.iter().enumerate() {
                    let got = image[(colour * 2 + y) * 4 + x];
                    assert!(
                        (got - expected).abs() < 1e-6,
                        "colour {colour} ({x}, {y}): {got}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_kernel_reads_the_neighbours_with_zero_padding() {
        // One channel, k = 3, f = 1: output = sum of the 3×3 neighbourhood.
        let ones = vec![1.0; 3 * 9];
        let preview = PreviewDecoder::new(1, 3, 1, ones, vec![0.0; 3]).unwrap();
        let latent: Vec<f32> = (1..=6).map(|v| v as f32).collect(); // 2×3
        let image = preview.decode(&latent, 2, 3);
        // Corner (0, 0): 1 + 2 + 4 + 5; middle top (0, 1): 1+2+3+4+5+6.
        assert_eq!(image[0], 12.0);
        assert_eq!(image[1], 21.0);
        assert_eq!(
            image[6], image[0],
            "every colour reads the same weights here"
        );
    }

    #[test]
    fn the_file_round_trips_and_bad_shapes_are_refused() {
        let preview = PreviewDecoder::flux1();
        let bytes = preview.to_safetensors();
        let back = pollster::block_on(PreviewDecoder::from_safetensors("p", &bytes)).unwrap();
        assert_eq!(back, preview);
        let odd = crate::formats::f32_safetensors_bytes([
            (
                WEIGHT,
                [5usize, 16, 1, 1].as_slice(),
                vec![0.0; 80].as_slice(),
            ),
            (BIAS, [5usize].as_slice(), vec![0.0; 5].as_slice()),
        ])
        .unwrap();
        let error = pollster::block_on(PreviewDecoder::from_safetensors("odd.safetensors", &odd))
            .unwrap_err();
        assert!(
            error.contains("odd.safetensors") && error.contains("3·f²"),
            "{error}"
        );
        assert!(PreviewDecoder::new(16, 2, 8, vec![], vec![]).is_err());
    }

    #[test]
    fn a_model_without_its_own_preview_gets_flux1s_only_where_it_fits() {
        let found = pollster::block_on(PreviewDecoder::for_model(None, 16, 8)).unwrap();
        assert_eq!(found, Some(PreviewDecoder::flux1()));
        assert_eq!(
            pollster::block_on(PreviewDecoder::for_model(None, 32, 8)).unwrap(),
            None
        );
        assert_eq!(
            pollster::block_on(PreviewDecoder::for_model(None, 16, 4)).unwrap(),
            None
        );
    }

    #[test]
    fn a_models_own_preview_that_does_not_fit_its_latent_is_refused_by_name() {
        let bytes = PreviewDecoder::flux1().to_safetensors();
        let own = Some(("preview.safetensors", bytes.as_slice()));
        let fits = pollster::block_on(PreviewDecoder::for_model(own, 16, 8)).unwrap();
        assert_eq!(fits, Some(PreviewDecoder::flux1()));
        for (channels, factor) in [(32, 8), (16, 4)] {
            let error =
                pollster::block_on(PreviewDecoder::for_model(own, channels, factor)).unwrap_err();
            assert!(
                error.starts_with("preview.safetensors: ")
                    && error.contains("16 latent channels")
                    && error.contains(&format!("{channels} channels and {factor}×{factor}")),
                "{error}"
            );
        }
    }
}
