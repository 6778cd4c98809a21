//! Activations cut into channel slices. At FLUX's sizes the autoencoder's
//! full-resolution activations outgrow one storage binding (256 channels ×
//! 1024² × 4 bytes is 1 GiB; WebGPU's default binding is 128 MiB), so an
//! activation is kept as 1, 2, 4 … 32 tensors of equal runs of consecutive
//! channels, [C / n, H, W] each, the fewest that fit.
//!
//! Nothing is approximated. A slice holds whole GroupNorm groups (C is a
//! multiple of the 32 groups and n divides 32), so GroupNorm, SiLU, the
//! nearest upsampling and residual sums work slice by slice as they are; a
//! convolution adds up its input slices' shares (`conv2d_accumulate`).
//! Slice counts are powers of two, so a finer cut lies inside a coarser
//! one: the upsampler's larger output slices its input's slices further.
//! When everything fits, an activation is one slice and each layer runs
//! exactly as it would on a plain tensor.

use sculpt_gpu::{Gpu, GpuError, Tensor, kernels::layout::concat};

use super::GROUP_NORM_GROUPS;
use crate::models::flux1::FluxError;

/// One image's activation [channels, height, width], as channel slices.
#[derive(Clone)]
pub(crate) struct ChannelSlices {
    slices: Vec<Tensor>,
    channels: usize,
    height: usize,
    width: usize,
}

impl ChannelSlices {
    /// A tensor [channels, height, width] that fits one binding, as one slice.
    pub fn whole(tensor: Tensor) -> Result<Self, FluxError> {
        let &[channels, height, width] = tensor.shape() else {
            return Err(FluxError::Input(format!(
                "the autoencoder works on [channels, height, width], not {:?}",
                tensor.shape()
            )));
        };
        Ok(Self {
            slices: vec![tensor],
            channels,
            height,
            width,
        })
    }

    /// Slices of `channels` / `count` channels each, made by `make(first
    /// channel, channels)`.
    pub fn build(
        channels: usize,
        height: usize,
        width: usize,
        count: usize,
        mut make: impl FnMut(usize, usize) -> Result<Tensor, FluxError>,
    ) -> Result<Self, FluxError> {
        let per_slice = channels / count;
        let slices = (0..count)
            .map(|slice| make(slice * per_slice, per_slice))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            slices,
            channels,
            height,
            width,
        })
    }

    /// How many slices an activation of this size takes on `gpu`: the
    /// fewest, a power of two dividing both `channels` and the 32 groups,
    /// whose slices fit one binding. An error when even the finest does not.
    pub fn count_for(
        gpu: &Gpu,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<usize, FluxError> {
        let binding = gpu.max_binding_bytes();
        let plane_bytes = (height * width * 4) as u64;
        channel_slice_count(channels, plane_bytes, binding).map_err(|finest| {
            FluxError::Gpu(GpuError::TooLarge {
                what: format!(
                    "the autoencoder's activation [{channels}, {height}, {width}] cut into \
                     {finest} channel slices"
                ),
                bytes: (channels / finest) as u64 * plane_bytes,
                limit: binding,
            })
        })
    }

    pub fn slices(&self) -> &[Tensor] {
        &self.slices
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// (height, width).
    pub fn size(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// Channels per slice.
    pub fn slice_channels(&self) -> usize {
        self.channels / self.slices.len()
    }

    /// The activation as one tensor (the slices joined, if there are
    /// several: an error when the whole does not fit one binding).
    pub fn into_whole(self, gpu: &Gpu) -> Result<Tensor, FluxError> {
        match <[Tensor; 1]>::try_from(self.slices) {
            Ok([whole]) => Ok(whole),
            Err(slices) => Ok(concat(gpu, &slices.iter().collect::<Vec<_>>(), 0)?),
        }
    }

    /// `f` of every slice, cut the same way (SiLU, GroupNorm).
    pub fn map(
        &self,
        mut f: impl FnMut(usize, &Tensor) -> Result<Tensor, FluxError>,
    ) -> Result<Self, FluxError> {
        let per_slice = self.slice_channels();
        let slices = self
            .slices
            .iter()
            .enumerate()
            .map(|(slice, tensor)| f(slice * per_slice, tensor))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            slices,
            ..self.clone()
        })
    }

    /// `f` of matching slices of two activations of one shape (which the
    /// rule of [`count_for`](Self::count_for) cuts alike).
    pub fn zip(
        &self,
        other: &Self,
        mut f: impl FnMut(&Tensor, &Tensor) -> Result<Tensor, FluxError>,
    ) -> Result<Self, FluxError> {
        if (self.channels, self.size(), self.slices.len())
            != (other.channels, other.size(), other.slices.len())
        {
            return Err(FluxError::Input(format!(
                "activations [{}, {}, {}] in {} slices and [{}, {}, {}] in {} cannot be combined",
                self.channels,
                self.height,
                self.width,
                self.slices.len(),
                other.channels,
                other.height,
                other.width,
                other.slices.len()
            )));
        }
        let slices = self
            .slices
            .iter()
            .zip(&other.slices)
            .map(|(a, b)| f(a, b))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            slices,
            ..self.clone()
        })
    }

    /// Channels `first..first + count` as a view, from the one slice that
    /// holds them all (true of any finer power-of-two cut).
    pub fn channel_range(&self, first: usize, count: usize) -> Result<Tensor, FluxError> {
        let per_slice = self.slice_channels();
        let slice = first / per_slice;
        let offset = first - slice * per_slice;
        if offset + count > per_slice {
            return Err(FluxError::Input(format!(
                "channels {first}..{} cross a slice boundary (slices of {per_slice})",
                first + count
            )));
        }
        Ok(self.slices[slice].narrow(offset, count)?)
    }
}

/// The fewest slices, a power of two dividing both `channels` and the 32
/// GroupNorm groups, that cut `channels` planes of `plane_bytes` each into
/// pieces of at most `binding` bytes; `Err` with the finest cut when even
/// that does not fit.
pub(crate) fn channel_slice_count(
    channels: usize,
    plane_bytes: u64,
    binding: u64,
) -> Result<usize, usize> {
    let mut count = 1;
    while (channels / count) as u64 * plane_bytes > binding {
        if count == finest_slice_count(channels) {
            return Err(count);
        }
        count *= 2;
    }
    Ok(count)
}

/// The most slices `channels` may be cut into.
fn finest_slice_count(channels: usize) -> usize {
    let mut count = 1;
    while count < GROUP_NORM_GROUPS && channels.is_multiple_of(count * 2) {
        count *= 2;
    }
    count
}
