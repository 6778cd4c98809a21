//! A tensor info as the header states it, and placing it in the data
//! section.

use sculpt_gpu::weights::WeightFormat;

use super::cursor::HeaderReader;
use super::{MAX_DIMS, MAX_TENSOR_NAME_LEN};
use crate::formats::error::{FormatError, Problem};
use crate::formats::source::ByteSource;
use crate::formats::tensor::{Encoding, TensorInfo, checked_product};

/// A tensor info as the file states it, before it is checked against the
/// data section.
pub(super) struct RawTensorInfo {
    pub(super) name: String,
    /// ggml's `ne`: innermost dimension first.
    dims: Vec<u64>,
    format: WeightFormat,
    offset: u64,
}

impl RawTensorInfo {
    /// Problems are boxed so that the `Result` stays small.
    pub(super) fn locate(
        self,
        data_start: u64,
        alignment: u64,
        file_len: u64,
    ) -> Result<TensorInfo, Box<Problem>> {
        let Self {
            name,
            dims,
            format,
            offset,
        } = self;
        let encoding = Encoding::from_weight_format(format);
        let block = encoding.block_elements();
        // n_dims >= 1 was checked when the info was read.
        let cols = dims.first().copied().unwrap_or(1);
        if !cols.is_multiple_of(block) {
            return Err(Box::new(Problem::RowNotWholeBlocks {
                tensor: name,
                format: format.name().into(),
                cols,
                block,
            }));
        }
        let shape: Vec<u64> = dims.iter().rev().copied().collect();
        // Both the element count and the byte size must fit: ggml counts
        // elements in int64, and a wrapped size would pass the bounds check.
        let element_count = checked_product(&shape).filter(|&count| count <= i64::MAX as u64);
        let Some(size) = element_count.and_then(|_| encoding.bytes_for(&shape)) else {
            return Err(Box::new(Problem::TensorSizeOverflow {
                tensor: name,
                shape,
            }));
        };
        if !offset.is_multiple_of(alignment) {
            return Err(Box::new(Problem::UnalignedOffset {
                tensor: name,
                offset,
                alignment,
            }));
        }
        let begin = data_start.checked_add(offset);
        let end = begin.and_then(|begin| begin.checked_add(size));
        match (begin, end) {
            (Some(begin), Some(end)) if end <= file_len => Ok(TensorInfo {
                name,
                shape,
                encoding,
                bytes: begin..end,
            }),
            _ => Err(Box::new(Problem::TensorPastEnd {
                tensor: name,
                begin: data_start.saturating_add(offset),
                end: data_start.saturating_add(offset).saturating_add(size),
                file_len,
            })),
        }
    }
}

impl<S: ByteSource> HeaderReader<'_, S> {
    pub(super) async fn tensor_info(&mut self, entry: u64) -> Result<RawTensorInfo, FormatError> {
        let name = self
            .string(MAX_TENSOR_NAME_LEN, || {
                format!("the name of tensor #{entry}")
            })
            .await?;
        let n_dims = self
            .u32(|| format!("the dimension count of tensor '{name}'"))
            .await?;
        if !(1..=MAX_DIMS).contains(&n_dims) {
            return Err(self.fail(Problem::BadDimensionCount {
                tensor: name,
                n_dims,
            }));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for axis in 0..n_dims {
            let dim = self
                .u64(|| format!("dimension {axis} of tensor '{name}'"))
                .await?;
            if dim > i64::MAX as u64 {
                return Err(self.fail(Problem::DimensionTooLarge { tensor: name, dim }));
            }
            dims.push(dim);
        }
        let type_id = self
            .u32(|| format!("the ggml type of tensor '{name}'"))
            .await?;
        let Ok(format) = WeightFormat::from_ggml_type(type_id) else {
            return Err(self.fail(Problem::UnsupportedGgmlType {
                tensor: name,
                type_id,
            }));
        };
        let offset = self
            .u64(|| format!("the data offset of tensor '{name}'"))
            .await?;
        Ok(RawTensorInfo {
            name,
            dims,
            format,
            offset,
        })
    }
}
