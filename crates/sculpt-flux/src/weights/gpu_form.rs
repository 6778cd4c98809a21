//! The form a stored tensor takes on the GPU, and the bytes it takes there:
//! a linear weight keeps its storage format (FP8 E4M3 widened to F16, which
//! holds every E4M3 value exactly), repacked to whole words per row; every
//! other tensor becomes f32 values.

use sculpt_gpu::weights::WeightFormat;

use crate::formats::{Dtype, Encoding, TensorInfo};

/// The GPU format of a linear weight stored in `encoding`, or `None` when
/// the encoding cannot be a linear weight.
pub(crate) fn linear_format(encoding: Encoding) -> Option<WeightFormat> {
    match encoding {
        Encoding::Plain(Dtype::F8_E4M3) => Some(WeightFormat::F16),
        encoding => encoding.weight_format(),
    }
}

/// The bytes `info` takes on the GPU once loaded, as a linear weight or as
/// f32 values.
pub fn gpu_bytes(info: &TensorInfo, linear: bool) -> u64 {
    if linear {
        let format = linear_format(info.encoding).unwrap_or(WeightFormat::F32);
        let words = format.words_per_row(info.cols() as usize) as u64;
        info.rows() * words * 4
    } else {
        info.element_count() * 4
    }
}
