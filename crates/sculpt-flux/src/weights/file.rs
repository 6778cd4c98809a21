//! A [`WeightSource`] over one safetensors or GGUF file, or the shards of
//! one checkpoint split over several (`model-00001-of-00002.safetensors`).

use std::collections::HashMap;

use sculpt_gpu::weights::{PackedWeight, WeightFormat, repack};

use super::gpu_form::linear_format;
use super::{SourceTensor, TakeFuture, TensorData, TensorUse, WeightSource};
use crate::formats::{
    ByteSource, Dtype, Encoding, FormatError, MAX_READ, Problem, TensorIndex, TensorInfo,
    read_rows, read_weight_file,
};

/// The tensors of one weight file, read one tensor at a time in slabs of
/// rows of at most [`MAX_READ`] bytes: at no point is more than one tensor
/// (in its GPU form) and one slab of file bytes in memory.
///
/// Linear weights keep their storage format (F32, F16, BF16 or GGUF blocks,
/// repacked for the GPU); FP8 (E4M3) weights become F16, which holds every
/// E4M3 value exactly. Every other tensor is converted to f32. Float values
/// are checked to be finite as they are converted.
pub struct FileWeights<S> {
    sources: Vec<S>,
    /// Every shard's tensors, shard after shard.
    index: TensorIndex,
    /// Which source holds each tensor.
    owner: HashMap<String, usize>,
    name: String,
    slab_bytes: u64,
}

impl<S: ByteSource> FileWeights<S> {
    /// Reads the file's header (only the header).
    pub async fn open(source: S) -> Result<Self, FormatError> {
        Self::open_shards(vec![source]).await
    }

    /// Reads the headers of the shards of one checkpoint; a tensor name in
    /// two shards is an error naming both.
    pub async fn open_shards(mut sources: Vec<S>) -> Result<Self, FormatError> {
        let Some(first) = sources.first() else {
            return Err(FormatError::new("weights", Problem::NoShards));
        };
        let name = match sources.len() {
            1 => first.name().to_string(),
            2 => format!("{} (and 1 more shard)", first.name()),
            count => format!("{} (and {} more shards)", first.name(), count - 1),
        };
        let mut indexes = Vec::with_capacity(sources.len());
        let mut owner = HashMap::new();
        for (position, source) in sources.iter_mut().enumerate() {
            let file = read_weight_file(source).await?;
            for info in file.index().tensors() {
                if let Some(earlier) = owner.insert(info.name.clone(), position) {
                    let earlier: &S = &sources[earlier];
                    return Err(FormatError::new(
                        sources[position].name(),
                        Problem::DuplicateAcrossShards {
                            tensor: info.name.clone(),
                            other: earlier.name().to_string(),
                        },
                    ));
                }
            }
            indexes.push(file.index().clone());
        }
        Ok(Self {
            sources,
            index: TensorIndex::concatenated(indexes),
            owner,
            name,
            slab_bytes: MAX_READ as u64,
        })
    }

    /// Reads tensors in slabs of at most `bytes` (at least one row each)
    /// instead of [`MAX_READ`]: tests use small slabs to exercise streaming.
    pub fn with_slab_bytes(mut self, bytes: u64) -> Self {
        self.slab_bytes = bytes.max(1);
        self
    }

    /// The file (or first shard) the error messages name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tensors of all shards.
    pub fn index(&self) -> &TensorIndex {
        &self.index
    }

    pub fn shard_count(&self) -> usize {
        self.sources.len()
    }

    /// The sources back, for a caller that only wanted to look at the headers.
    pub fn into_sources(self) -> Vec<S> {
        self.sources
    }

    /// Tensor `name` in the form `used_as` calls for, or `None` when the
    /// file has no tensor by that name.
    pub async fn read(
        &mut self,
        name: &str,
        used_as: TensorUse,
    ) -> Result<Option<SourceTensor>, FormatError> {
        let (Some(info), Some(&shard)) = (self.index.get(name).cloned(), self.owner.get(name))
        else {
            return Ok(None);
        };
        let shape = info.shape.iter().map(|&dim| dim as usize).collect();
        let data = match (used_as, info.shape.len()) {
            (TensorUse::LinearWeight, 2) => TensorData::Packed(self.packed(shard, &info).await?),
            _ => TensorData::F32(self.f32_values(shard, &info).await?),
        };
        Ok(Some(SourceTensor { shape, data }))
    }

    fn error(&self, shard: usize, problem: Problem) -> FormatError {
        FormatError::new(self.sources[shard].name(), problem)
    }

    /// Rows per slab: as many as fit in the slab size, at least one.
    fn rows_per_slab(&self, info: &TensorInfo) -> u64 {
        (self.slab_bytes / info.row_bytes().max(1)).max(1)
    }

    /// The tensor's values as f32, converted slab by slab.
    async fn f32_values(
        &mut self,
        shard: usize,
        info: &TensorInfo,
    ) -> Result<Vec<f32>, FormatError> {
        let Encoding::Plain(dtype) = info.encoding else {
            return Err(self.unusable(
                shard,
                info,
                "non-matrix tensors as floats (F32, F16, BF16, F8_E4M3)",
            ));
        };
        if !matches!(
            dtype,
            Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F8_E4M3
        ) {
            return Err(self.unusable(shard, info, "floats (F32, F16, BF16, F8_E4M3)"));
        }
        let count = usize::try_from(info.element_count()).map_err(|_| {
            self.error(
                shard,
                Problem::TooLargeForMemory {
                    what: format!("tensor '{}'", info.name),
                    bytes: info.byte_len(),
                },
            )
        })?;
        let mut values = Vec::with_capacity(count);
        let slab = self.rows_per_slab(info);
        let mut row = 0;
        while row < info.rows() {
            let rows = slab.min(info.rows() - row);
            let bytes = read_rows(&mut self.sources[shard], info, row, rows).await?;
            decode_floats(dtype, &bytes, &mut values);
            row += rows;
        }
        if let Some(index) = values.iter().position(|value| !value.is_finite()) {
            return Err(self.error(
                shard,
                Problem::NotFinite {
                    tensor: info.name.clone(),
                    index: index as u64,
                    value: values[index],
                },
            ));
        }
        Ok(values)
    }

    /// A matrix in its storage format, repacked slab by slab.
    async fn packed(
        &mut self,
        shard: usize,
        info: &TensorInfo,
    ) -> Result<PackedWeight, FormatError> {
        let Some(format) = linear_format(info.encoding) else {
            return Err(self.unusable(
                shard,
                info,
                "linear weights as F32, F16, BF16, F8_E4M3 or GGUF blocks",
            ));
        };
        let to_f16 = info.encoding == Encoding::Plain(Dtype::F8_E4M3);
        let cols = info.cols() as usize;
        let slab = self.rows_per_slab(info);
        let mut packed: Option<PackedWeight> = None;
        let mut row = 0;
        while row < info.rows() {
            let rows = slab.min(info.rows() - row);
            let mut bytes = read_rows(&mut self.sources[shard], info, row, rows).await?;
            if to_f16 {
                bytes = e4m3_to_f16_bytes(&bytes);
            }
            if let Some(first_bad) = first_non_finite(format, &bytes) {
                return Err(self.error(
                    shard,
                    Problem::NotFinite {
                        tensor: info.name.clone(),
                        index: row * info.cols() + first_bad.0,
                        value: first_bad.1,
                    },
                ));
            }
            let repack_error = |e: sculpt_gpu::weights::WeightError| {
                self.error(
                    shard,
                    Problem::Repack {
                        tensor: info.name.clone(),
                        detail: e.to_string(),
                    },
                )
            };
            let part = repack(format, rows as usize, cols, &bytes).map_err(repack_error)?;
            match packed.as_mut() {
                None => packed = Some(part),
                Some(whole) => whole.append_rows(&part).map_err(repack_error)?,
            }
            row += rows;
        }
        packed.ok_or_else(|| {
            self.error(
                shard,
                Problem::Repack {
                    tensor: info.name.clone(),
                    detail: "it has no rows".into(),
                },
            )
        })
    }

    fn unusable(&self, shard: usize, info: &TensorInfo, wanted: &'static str) -> FormatError {
        self.error(
            shard,
            Problem::UnusableEncoding {
                tensor: info.name.clone(),
                encoding: info.encoding.name().into(),
                wanted,
            },
        )
    }
}

impl<S: ByteSource> WeightSource for FileWeights<S> {
    fn take<'a>(&'a mut self, name: &'a str, used_as: TensorUse) -> TakeFuture<'a> {
        Box::pin(async move { Ok(self.read(name, used_as).await?) })
    }
}

/// Appends the little-endian floats in `bytes` to `out` as f32.
fn decode_floats(dtype: Dtype, bytes: &[u8], out: &mut Vec<f32>) {
    match dtype {
        Dtype::F32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
        Dtype::F16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
        ),
        Dtype::BF16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        ),
        Dtype::F8_E4M3 => out.extend(bytes.iter().map(|&byte| e4m3_to_f32(byte))),
        _ => unreachable!("only float dtypes reach decode_floats"),
    }
}

/// An FP8 E4M3 (OCP "FN" variant, as PyTorch's `float8_e4m3fn`) value: 1
/// sign bit, 4 exponent bits with bias 7, 3 mantissa bits; no infinities,
/// and S.1111.111 is NaN.
pub(crate) fn e4m3_to_f32(byte: u8) -> f32 {
    let sign = if byte & 0x80 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((byte >> 3) & 0x0f);
    let mantissa = f32::from(byte & 0x07);
    if exponent == 0x0f && byte & 0x07 == 0x07 {
        return f32::NAN;
    }
    let magnitude = if exponent == 0 {
        mantissa / 8.0 * 2f32.powi(-6)
    } else {
        (1.0 + mantissa / 8.0) * 2f32.powi(exponent - 7)
    };
    sign * magnitude
}

/// E4M3 bytes as f16 bytes: every E4M3 value (magnitudes 2⁻⁹ to 448) is
/// exactly an f16.
fn e4m3_to_f16_bytes(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|&byte| half::f16::from_f32(e4m3_to_f32(byte)).to_le_bytes())
        .collect()
}

/// The first non-finite value of a float-format slab, with its element
/// index. Block formats are not scanned: a non-finite scale in them shows up
/// in the first forward pass's output.
fn first_non_finite(format: WeightFormat, bytes: &[u8]) -> Option<(u64, f32)> {
    let found = |values: &mut dyn Iterator<Item = f32>| {
        values
            .enumerate()
            .find(|(_, value)| !value.is_finite())
            .map(|(index, value)| (index as u64, value))
    };
    match format {
        WeightFormat::F32 => found(
            &mut bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
        WeightFormat::F16 => found(
            &mut bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
        ),
        WeightFormat::BF16 => found(
            &mut bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        ),
        _ => None,
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::collections::BTreeMap;

    use sculpt_gpu::weights::{WeightFormat, repack};

    use super::{FileWeights, e4m3_to_f32};
    use crate::formats::{
        Dtype, Encoding, MemorySource, TensorToWrite, f32_safetensors_bytes, safetensors_bytes,
    };
    use crate::weights::{TensorData, TensorUse};

    #[test]
    fn e4m3_values_by_hand() {
        assert_eq!(e4m3_to_f32(0x00), 0.0);
        assert_eq!(e4m3_to_f32(0x38), 1.0); // exponent 7, mantissa 0
        assert_eq!(e4m3_to_f32(0xb8), -1.0);
        assert_eq!(e4m3_to_f32(0x3c), 1.5); // mantissa 4/8
        assert_eq!(e4m3_to_f32(0x7e), 448.0); // the largest finite value
        assert_eq!(e4m3_to_f32(0x01), 2f32.powi(-9)); // the smallest subnormal
        assert_eq!(e4m3_to_f32(0x08), 2f32.powi(-6)); // the smallest normal
        assert!(e4m3_to_f32(0x7f).is_nan());
        assert!(e4m3_to_f32(0xff).is_nan());
    }

    fn file(tensors: &[(&str, &[u64], Dtype, &[u8])]) -> FileWeights<MemorySource<Vec<u8>>> {
        let to_write: Vec<TensorToWrite> = tensors
            .iter()
            .map(|&(name, shape, dtype, bytes)| TensorToWrite {
                name,
                shape,
                encoding: Encoding::Plain(dtype),
                bytes,
            })
            .collect();
        let bytes = safetensors_bytes(&to_write, &BTreeMap::new()).unwrap();
        pollster::block_on(FileWeights::open(MemorySource::new(
            "test.safetensors",
            bytes,
        )))
        .unwrap()
    }

    #[test]
    fn fp8_matrices_become_f16_and_fp8_vectors_f32() {
        // 1, -1.5, 448 / 2^-9, 0, 2^-6 and a vector of 1, 1.5, -448.
        let matrix = [0x38, 0xbc, 0x7e, 0x01, 0x00, 0x08];
        let vector = [0x38, 0x3c, 0xfe];
        let mut weights = file(&[
            ("w", &[2, 3], Dtype::F8_E4M3, &matrix),
            ("b", &[3], Dtype::F8_E4M3, &vector),
        ]);
        let w = pollster::block_on(weights.read("w", TensorUse::LinearWeight))
            .unwrap()
            .unwrap();
        let f16_bytes: Vec<u8> = [1.0, -1.5, 448.0, 2f32.powi(-9), 0.0, 2f32.powi(-6)]
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        let want = repack(WeightFormat::F16, 2, 3, &f16_bytes).unwrap();
        assert_eq!(w.shape, [2, 3]);
        assert!(matches!(w.data, TensorData::Packed(ref got) if *got == want));
        let b = pollster::block_on(weights.read("b", TensorUse::Values))
            .unwrap()
            .unwrap();
        assert!(matches!(b.data, TensorData::F32(ref got) if got == &[1.0, 1.5, -448.0]));
        assert!(
            pollster::block_on(weights.read("absent", TensorUse::Values))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_matrix_read_in_slabs_equals_it_read_whole() {
        let values: Vec<u8> = (0..6 * 8)
            .flat_map(|i| half::bf16::from_f32(i as f32 * 0.25 - 3.0).to_le_bytes())
            .collect();
        let whole = repack(WeightFormat::BF16, 6, 8, &values).unwrap();
        // 16 bytes per row: slabs of 40 bytes hold 2 rows, so 3 slabs.
        let mut weights = file(&[("w", &[6, 8], Dtype::BF16, &values)]).with_slab_bytes(40);
        let w = pollster::block_on(weights.read("w", TensorUse::LinearWeight))
            .unwrap()
            .unwrap();
        assert!(matches!(w.data, TensorData::Packed(ref got) if *got == whole));
        let mut weights = file(&[("w", &[6, 8], Dtype::BF16, &values)]).with_slab_bytes(40);
        let as_values = pollster::block_on(weights.read("w", TensorUse::Values))
            .unwrap()
            .unwrap();
        let want: Vec<f32> = (0..48).map(|i| i as f32 * 0.25 - 3.0).collect();
        assert!(matches!(as_values.data, TensorData::F32(ref got) if *got == want));
    }

    #[test]
    fn non_finite_weights_are_refused_by_file_tensor_and_element() {
        let vector: Vec<u8> = [1.0f32, f32::NAN, 2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let matrix: Vec<u8> = [0.5f32, 1.0, f32::INFINITY, 0.0]
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        let mut weights = file(&[
            ("norm.scale", &[3], Dtype::F32, &vector),
            ("proj.weight", &[2, 2], Dtype::F16, &matrix),
        ]);
        let error = pollster::block_on(weights.read("norm.scale", TensorUse::Values))
            .err()
            .expect("a NaN is refused");
        let message = error.to_string();
        assert!(message.contains("test.safetensors"), "{message}");
        assert!(
            message.contains("'norm.scale'") && message.contains("element 1"),
            "{message}"
        );
        let error = pollster::block_on(weights.read("proj.weight", TensorUse::LinearWeight))
            .err()
            .expect("an infinity is refused");
        let message = error.to_string();
        assert!(
            message.contains("'proj.weight'") && message.contains("element 2"),
            "{message}"
        );
    }

    #[test]
    fn shards_read_as_one_file_and_may_not_share_a_tensor() {
        let source = |name: &str, tensors: &[(&str, f32)]| {
            let stored = tensors
                .iter()
                .map(|(tensor, value)| (*tensor, [1].as_slice(), std::slice::from_ref(value)));
            MemorySource::new(name, f32_safetensors_bytes(stored).unwrap())
        };
        let shards = vec![
            source("a-00001-of-00002.safetensors", &[("x", 1.0), ("y", 2.0)]),
            source("a-00002-of-00002.safetensors", &[("z", 3.0)]),
        ];
        let mut weights = pollster::block_on(FileWeights::open_shards(shards)).unwrap();
        assert_eq!(weights.index().names().collect::<Vec<_>>(), ["x", "y", "z"]);
        assert_eq!(
            weights.name(),
            "a-00001-of-00002.safetensors (and 1 more shard)"
        );
        let z = pollster::block_on(weights.read("z", TensorUse::Values))
            .unwrap()
            .unwrap();
        assert!(matches!(z.data, TensorData::F32(ref v) if v == &[3.0]));

        let shards = vec![
            source("b-00001-of-00002.safetensors", &[("x", 1.0)]),
            source("b-00002-of-00002.safetensors", &[("x", 3.0)]),
        ];
        let error = pollster::block_on(FileWeights::open_shards(shards))
            .err()
            .unwrap();
        let message = error.to_string();
        assert!(
            message.starts_with("b-00002-of-00002.safetensors: tensor 'x' is also in b-00001"),
            "{message}"
        );
    }

    #[test]
    fn integer_tensors_are_refused_by_name() {
        let ids = [0u8; 8];
        let mut weights = file(&[("position_ids", &[2], Dtype::I32, &ids)]);
        let error = pollster::block_on(weights.read("position_ids", TensorUse::Values))
            .err()
            .expect("integers are not weights");
        assert!(
            error
                .to_string()
                .contains("'position_ids' is stored as I32"),
            "{error}"
        );
    }
}
