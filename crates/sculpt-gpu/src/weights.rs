//! Weight storage formats for the GPU matmul kernels: the float and ggml block
//! formats a GGUF file stores linear-layer weights in, and their repacking into
//! `u32` words that WGSL can read (`kernels/weights.wgsl` decodes them).
//!
//! A weight is row-major `[rows, cols]`: `rows` output features (N), `cols`
//! input features (K), the GGUF and PyTorch `Linear` layout. Block formats
//! quantize each row in blocks of 32 or 256 consecutive values.
//!
//! ggml blocks are byte-packed (a Q4_0 block is 18 bytes, Q6_K 210), but WGSL
//! storage buffers are read a `u32` at a time. [`repack`] pads every block to a
//! whole number of words, placing the padding so that every field starts on a
//! word boundary:
//!
//! | format | file bytes | packed words | packed layout (byte offsets)                                        |
//! | ------ | ---------- | ------------ | ------------------------------------------------------------------- |
//! | Q8_0   | 34         | 9            | d f16 @0, 2 zero bytes, qs[32] i8 @4                                 |
//! | Q4_0   | 18         | 5            | d f16 @0, 2 zero bytes, qs[16] @4                                    |
//! | Q4_1   | 20         | 5            | d f16 @0, m f16 @2, qs[16] @4 (as in the file)                       |
//! | Q5_0   | 22         | 6            | d f16 @0, 2 zero bytes, qh u32 @4, qs[16] @8                         |
//! | Q5_1   | 24         | 6            | d f16 @0, m f16 @2, qh u32 @4, qs[16] @8 (as in the file)            |
//! | Q4_K   | 144        | 36           | d f16 @0, dmin f16 @2, scales[12] @4, qs[128] @16 (as in the file)   |
//! | Q5_K   | 176        | 44           | d, dmin @0, scales[12] @4, qh[32] @16, qs[128] @48 (as in the file)  |
//! | Q6_K   | 210        | 53           | ql[128] @0, qh[64] @128, scales[16] i8 @192, d f16 @208, 2 zero bytes |
//!
//! Blocks follow each other with no gaps, so a row is `cols / block` blocks.
//! Float rows (F32, F16, BF16) are padded with zeros to a multiple of 4
//! values, so that the shader can always read 4 values at a time; F16 and BF16
//! keep two values per word, the lower-indexed one in the low half.
//!
//! Everything is little-endian, as ggml writes it and as WebGPU reads buffers.

use std::fmt;

/// A storage format of a weight matrix, as a GGUF file records it per tensor.
#[allow(non_camel_case_types)] // the names ggml and every GGUF tool use
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WeightFormat {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q4_K,
    Q5_K,
    Q6_K,
}

/// Why a weight's bytes could not be repacked for the GPU.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WeightError {
    #[error(
        "ggml type {0} is not a weight format Sculpt reads \
         (it reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K)"
    )]
    UnsupportedGgmlType(u32),
    #[error(
        "a {format} weight of {rows}x{cols} is empty: a weight needs at least one row and one column"
    )]
    Empty {
        format: WeightFormat,
        rows: usize,
        cols: usize,
    },
    #[error(
        "{format} stores values in blocks of {block}, but the rows of this {rows}x{cols} \
         weight have {cols} values, which is not a multiple of {block}"
    )]
    ColsNotMultipleOfBlock {
        format: WeightFormat,
        rows: usize,
        cols: usize,
        block: usize,
    },
    #[error(
        "a {format} weight of {rows}x{cols} takes {expected} bytes, but {actual} bytes were given"
    )]
    ByteLength {
        format: WeightFormat,
        rows: usize,
        cols: usize,
        expected: usize,
        actual: usize,
    },
    #[error(
        "a {format} weight of {rows}x{cols} is too large for the GPU kernels, \
         which index values and words with 32-bit integers"
    )]
    TooLarge {
        format: WeightFormat,
        rows: usize,
        cols: usize,
    },
    #[error(
        "rows of a {found_format} weight of {found_cols} columns cannot follow rows of a \
         {format} weight of {cols} columns"
    )]
    RowsDiffer {
        format: WeightFormat,
        cols: usize,
        found_format: WeightFormat,
        found_cols: usize,
    },
}

impl WeightFormat {
    /// Every format, in the order of the enum.
    pub const ALL: [WeightFormat; 11] = [
        Self::F32,
        Self::F16,
        Self::BF16,
        Self::Q8_0,
        Self::Q4_0,
        Self::Q4_1,
        Self::Q5_0,
        Self::Q5_1,
        Self::Q4_K,
        Self::Q5_K,
        Self::Q6_K,
    ];

    /// The `ggml_type` id GGUF files record for this format.
    pub const fn ggml_type(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q5_0 => 6,
            Self::Q5_1 => 7,
            Self::Q8_0 => 8,
            Self::Q4_K => 12,
            Self::Q5_K => 13,
            Self::Q6_K => 14,
            Self::BF16 => 30,
        }
    }

    /// The format a GGUF `ggml_type` id names, if Sculpt reads it.
    pub fn from_ggml_type(id: u32) -> Result<Self, WeightError> {
        Self::ALL
            .into_iter()
            .find(|format| format.ggml_type() == id)
            .ok_or(WeightError::UnsupportedGgmlType(id))
    }

    /// The value of the `WEIGHT_FORMAT` override constant that makes
    /// `weights.wgsl` decode this format. It is the ggml type id, so that one
    /// number names a format in the file, in Rust and in WGSL.
    pub const fn shader_id(self) -> u32 {
        self.ggml_type()
    }

    /// The name ggml gives the format ("Q4_K", "BF16").
    pub const fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::Q8_0 => "Q8_0",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q4_K => "Q4_K",
            Self::Q5_K => "Q5_K",
            Self::Q6_K => "Q6_K",
        }
    }

    /// Whether values are stored in quantized blocks rather than one float each.
    pub const fn is_quantized(self) -> bool {
        !matches!(self, Self::F32 | Self::F16 | Self::BF16)
    }

    /// How many values one block holds: 1 for float formats, 32 for the
    /// classic quants, 256 for the K-quants.
    pub const fn block_elements(self) -> usize {
        match self {
            Self::F32 | Self::F16 | Self::BF16 => 1,
            Self::Q8_0 | Self::Q4_0 | Self::Q4_1 | Self::Q5_0 | Self::Q5_1 => 32,
            Self::Q4_K | Self::Q5_K | Self::Q6_K => 256,
        }
    }

    /// How many bytes one block takes in a GGUF file.
    pub const fn block_bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::BF16 => 2,
            Self::Q8_0 => 34,
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q5_0 => 22,
            Self::Q5_1 => 24,
            Self::Q4_K => 144,
            Self::Q5_K => 176,
            Self::Q6_K => 210,
        }
    }

    /// How many `u32` words one block takes once repacked, for block formats;
    /// `None` for float formats, whose rows are packed as a whole.
    pub const fn packed_block_words(self) -> Option<usize> {
        if self.is_quantized() {
            Some(self.block_bytes().div_ceil(4))
        } else {
            None
        }
    }

    /// How many `u32` words one repacked row of `cols` values takes (for block
    /// formats, `cols` must be a multiple of the block).
    pub const fn words_per_row(self, cols: usize) -> usize {
        match self {
            Self::F32 => cols.div_ceil(4) * 4,
            Self::F16 | Self::BF16 => cols.div_ceil(4) * 2,
            _ => cols / self.block_elements() * self.block_bytes().div_ceil(4),
        }
    }

    /// Where each field of a block goes when the block is repacked:
    /// `(offset in the file's block, length, offset in the packed block)`,
    /// in bytes. Bytes not covered stay zero.
    const fn block_fields(self) -> &'static [(usize, usize, usize)] {
        match self {
            // The lone f16 scale d is followed by 2 padding bytes, so that the
            // quants start on a word.
            Self::Q8_0 => &[(0, 2, 0), (2, 32, 4)],
            Self::Q4_0 => &[(0, 2, 0), (2, 16, 4)],
            Self::Q5_0 => &[(0, 2, 0), (2, 4, 4), (6, 16, 8)],
            // Already word-aligned field by field; Q6_K only needs its size
            // rounded up, after the trailing d.
            Self::Q4_1 => &[(0, 20, 0)],
            Self::Q5_1 => &[(0, 24, 0)],
            Self::Q4_K => &[(0, 144, 0)],
            Self::Q5_K => &[(0, 176, 0)],
            Self::Q6_K => &[(0, 210, 0)],
            Self::F32 | Self::F16 | Self::BF16 => &[],
        }
    }

    /// The byte length of a `[rows, cols]` weight in a GGUF file, after
    /// checking that the shape suits the format.
    pub fn file_bytes(self, rows: usize, cols: usize) -> Result<usize, WeightError> {
        if rows == 0 || cols == 0 {
            return Err(WeightError::Empty {
                format: self,
                rows,
                cols,
            });
        }
        let block = self.block_elements();
        if !cols.is_multiple_of(block) {
            return Err(WeightError::ColsNotMultipleOfBlock {
                format: self,
                rows,
                cols,
                block,
            });
        }
        let too_large = WeightError::TooLarge {
            format: self,
            rows,
            cols,
        };
        // The shader indexes values (row * cols + k) and words (row *
        // words_per_row + ...) with u32, so both must fit.
        let values = rows.checked_mul(cols).ok_or(too_large.clone())?;
        let words = rows
            .checked_mul(self.words_per_row(cols))
            .ok_or(too_large.clone())?;
        if u32::try_from(values).is_err() || u32::try_from(words).is_err() {
            return Err(too_large);
        }
        (cols / block)
            .checked_mul(self.block_bytes())
            .and_then(|row_bytes| row_bytes.checked_mul(rows))
            .ok_or(too_large)
    }
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<u32> for WeightFormat {
    type Error = WeightError;

    fn try_from(ggml_type: u32) -> Result<Self, WeightError> {
        Self::from_ggml_type(ggml_type)
    }
}

/// A weight repacked for the GPU: upload `words` as a storage buffer and read
/// it with `weights.wgsl`'s `weight4`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedWeight {
    format: WeightFormat,
    rows: usize,
    cols: usize,
    words_per_row: usize,
    words: Vec<u32>,
}

impl PackedWeight {
    pub fn format(&self) -> WeightFormat {
        self.format
    }

    /// Output features (N).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features (K): values per row, not counting padding.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The stride between rows in `words`.
    pub fn words_per_row(&self) -> usize {
        self.words_per_row
    }

    /// `rows * words_per_row` words, row after row.
    pub fn words(&self) -> &[u32] {
        &self.words
    }

    pub fn into_words(self) -> Vec<u32> {
        self.words
    }

    /// Rows `rows` of this weight, as a weight of their own (`None` when the
    /// range does not lie inside it or is empty).
    pub fn row_range(&self, rows: std::ops::Range<usize>) -> Option<PackedWeight> {
        if rows.start >= rows.end || rows.end > self.rows {
            return None;
        }
        let words =
            self.words[rows.start * self.words_per_row..rows.end * self.words_per_row].to_vec();
        Some(PackedWeight {
            format: self.format,
            rows: rows.end - rows.start,
            cols: self.cols,
            words_per_row: self.words_per_row,
            words,
        })
    }

    /// Columns (input features) `cols` of every row, as a weight of their
    /// own: a linear layer over a concatenated input becomes one layer per
    /// part, added up. The range must start on a block boundary (4 values
    /// for float formats) and end on one or at the last column; `None` when
    /// it does not, or lies outside the weight, or is empty.
    pub fn col_range(&self, cols: std::ops::Range<usize>) -> Option<PackedWeight> {
        let align = match self.format {
            WeightFormat::F32 | WeightFormat::F16 | WeightFormat::BF16 => 4,
            format => format.block_elements(),
        };
        let aligned = |col: usize| col.is_multiple_of(align);
        if cols.start >= cols.end
            || cols.end > self.cols
            || !aligned(cols.start)
            || !(aligned(cols.end) || cols.end == self.cols)
        {
            return None;
        }
        let skip = self.format.words_per_row(cols.start);
        let words_per_row = self.format.words_per_row(cols.end - cols.start);
        let words = self
            .words
            .chunks_exact(self.words_per_row)
            .flat_map(|row| &row[skip..skip + words_per_row])
            .copied()
            .collect();
        Some(PackedWeight {
            format: self.format,
            rows: self.rows,
            cols: cols.end - cols.start,
            words_per_row,
            words,
        })
    }

    /// Appends `more`'s rows after this weight's. Rows are packed
    /// independently (blocks never straddle rows), so a weight read a slab of
    /// rows at a time, or q, k and v stored apart, joins into one weight
    /// without decoding, in any format.
    pub fn append_rows(&mut self, more: &PackedWeight) -> Result<(), WeightError> {
        if more.format != self.format || more.cols != self.cols {
            return Err(WeightError::RowsDiffer {
                format: self.format,
                cols: self.cols,
                found_format: more.format,
                found_cols: more.cols,
            });
        }
        self.words.extend_from_slice(&more.words);
        self.rows += more.rows;
        Ok(())
    }
}

/// Repacks the bytes of a row-major `[rows, cols]` weight, exactly as a GGUF
/// file stores them in `format`, into `u32` words for the GPU (the layout is
/// in the module documentation).
pub fn repack(
    format: WeightFormat,
    rows: usize,
    cols: usize,
    bytes: &[u8],
) -> Result<PackedWeight, WeightError> {
    let expected = format.file_bytes(rows, cols)?;
    if bytes.len() != expected {
        return Err(WeightError::ByteLength {
            format,
            rows,
            cols,
            expected,
            actual: bytes.len(),
        });
    }
    let words_per_row = format.words_per_row(cols);
    let row_bytes = expected / rows;
    let mut packed_row = vec![0u8; 4 * words_per_row];
    let mut words = Vec::with_capacity(rows * words_per_row);
    for row in bytes.chunks_exact(row_bytes) {
        match format.packed_block_words() {
            // Floats keep their bytes; the tail of the packed row is padding
            // and stays zero.
            None => packed_row[..row_bytes].copy_from_slice(row),
            Some(block_words) => {
                let block_bytes = format.block_bytes();
                for (block, packed) in row
                    .chunks_exact(block_bytes)
                    .zip(packed_row.chunks_exact_mut(4 * block_words))
                {
                    for &(from, len, to) in format.block_fields() {
                        packed[to..to + len].copy_from_slice(&block[from..from + len]);
                    }
                }
            }
        }
        words.extend(
            packed_row
                .chunks_exact(4)
                .map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]])),
        );
    }
    Ok(PackedWeight {
        format,
        rows,
        cols,
        words_per_row,
        words,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_rows_equal_the_whole_weight_repacked() {
        // Two Q8_0 rows of 32 values: scale (f16) then 32 signed bytes each.
        let mut bytes = Vec::new();
        for row in 0..2u8 {
            bytes.extend_from_slice(&[0x00, 0x3c]); // 1.0 in f16
            bytes.extend((0..32).map(|i| i + 40 * row));
        }
        let whole = repack(WeightFormat::Q8_0, 2, 32, &bytes).unwrap();
        let mut first = repack(WeightFormat::Q8_0, 1, 32, &bytes[..34]).unwrap();
        first
            .append_rows(&repack(WeightFormat::Q8_0, 1, 32, &bytes[34..]).unwrap())
            .unwrap();
        assert_eq!(first, whole);
        assert_eq!(
            whole.row_range(1..2).unwrap(),
            repack(WeightFormat::Q8_0, 1, 32, &bytes[34..]).unwrap()
        );
        assert!(whole.row_range(1..3).is_none());

        let other = repack(WeightFormat::F32, 1, 32, &[0; 128]).unwrap();
        let err = first.append_rows(&other).unwrap_err();
        assert!(matches!(err, WeightError::RowsDiffer { .. }), "{err}");
    }

    #[test]
    fn column_ranges_equal_the_columns_repacked_alone() {
        // Two Q8_0 rows of two blocks each: the second block of each row,
        // repacked alone, is columns 32..64.
        let block = |seed: u8| {
            let mut bytes = vec![0x00, 0x3c];
            bytes.extend((0..32).map(|i| i + seed));
            bytes
        };
        let rows: Vec<Vec<u8>> = (0..2)
            .map(|r| [block(10 * r), block(10 * r + 5)].concat())
            .collect();
        let whole = repack(WeightFormat::Q8_0, 2, 64, &rows.concat()).unwrap();
        let second_blocks: Vec<u8> = rows.iter().flat_map(|row| row[34..].to_vec()).collect();
        assert_eq!(
            whole.col_range(32..64).unwrap(),
            repack(WeightFormat::Q8_0, 2, 32, &second_blocks).unwrap()
        );
        assert_eq!(whole.col_range(0..64).unwrap(), whole);
        // Not on a block boundary, outside, empty.
        assert!(whole.col_range(16..64).is_none());
        assert!(whole.col_range(32..48).is_none());
        assert!(whole.col_range(32..96).is_none());
        assert!(whole.col_range(32..32).is_none());

        // F16 rows of 6 values pad to 8: columns 4..6 are the last two
        // values, padded again.
        let values: Vec<u16> = (0..12).map(|i| 0x3c00 + i).collect();
        let f16 = repack(WeightFormat::F16, 2, 6, bytemuck::cast_slice(&values)).unwrap();
        let tail: Vec<u16> = [4, 5, 10, 11].map(|i| values[i]).to_vec();
        assert_eq!(
            f16.col_range(4..6).unwrap(),
            repack(WeightFormat::F16, 2, 2, bytemuck::cast_slice(&tail)).unwrap()
        );
        assert!(f16.col_range(2..6).is_none());
    }

    #[test]
    fn ggml_type_ids_round_trip() {
        let ids: Vec<u32> = WeightFormat::ALL.iter().map(|f| f.ggml_type()).collect();
        assert_eq!(ids, [0, 1, 30, 8, 2, 3, 6, 7, 12, 13, 14]);
        for format in WeightFormat::ALL {
            assert_eq!(WeightFormat::from_ggml_type(format.ggml_type()), Ok(format));
            assert_eq!(WeightFormat::try_from(format.ggml_type()), Ok(format));
        }
    }

    #[test]
    fn ggml_types_sculpt_does_not_read_are_refused() {
        // Q8_1, Q2_K, Q3_K, Q8_K and an id past the end.
        for id in [9, 10, 11, 15, 4, 5, 99] {
            let err = WeightFormat::from_ggml_type(id).unwrap_err();
            assert_eq!(err, WeightError::UnsupportedGgmlType(id));
            assert!(err.to_string().contains(&format!("ggml type {id}")));
        }
    }

    #[test]
    fn every_packed_block_is_whole_words_and_holds_the_file_block() {
        for format in WeightFormat::ALL.into_iter().filter(|f| f.is_quantized()) {
            let words = format.packed_block_words().unwrap();
            let fields = format.block_fields();
            let copied: usize = fields.iter().map(|&(_, len, _)| len).sum();
            assert_eq!(copied, format.block_bytes(), "{format}");
            for &(from, len, to) in fields {
                assert!(from + len <= format.block_bytes(), "{format}");
                assert!(to + len <= 4 * words, "{format}");
            }
        }
        let words: Vec<usize> = [
            WeightFormat::Q8_0,
            WeightFormat::Q4_0,
            WeightFormat::Q4_1,
            WeightFormat::Q5_0,
            WeightFormat::Q5_1,
            WeightFormat::Q4_K,
            WeightFormat::Q5_K,
            WeightFormat::Q6_K,
        ]
        .iter()
        .map(|f| f.packed_block_words().unwrap())
        .collect();
        assert_eq!(words, [9, 5, 5, 6, 6, 36, 44, 53]);
    }

    #[test]
    fn q4_0_scale_is_padded_to_a_word() {
        let mut block = vec![0x00, 0x38]; // d = 0.5 as f16
        block.extend(1..=16u8);
        let packed = repack(WeightFormat::Q4_0, 1, 32, &block).unwrap();
        assert_eq!(packed.words_per_row(), 5);
        assert_eq!(
            packed.words(),
            [0x3800, 0x04030201, 0x08070605, 0x0c0b0a09, 0x100f0e0d]
        );
    }

    #[test]
    fn float_rows_are_padded_to_four_values() {
        let bytes: Vec<u8> = (1..=12u8).collect(); // 2 rows of 3 f16
        let packed = repack(WeightFormat::F16, 2, 3, &bytes).unwrap();
        assert_eq!(packed.words_per_row(), 2);
        assert_eq!(packed.words(), [0x04030201, 0x0605, 0x0a090807, 0x0c0b]);
    }

    #[test]
    fn shapes_that_do_not_fit_the_format_are_refused() {
        assert!(matches!(
            repack(WeightFormat::Q4_K, 2, 128, &[0; 144]),
            Err(WeightError::ColsNotMultipleOfBlock { block: 256, .. })
        ));
        assert!(matches!(
            repack(WeightFormat::Q8_0, 0, 32, &[]),
            Err(WeightError::Empty { .. })
        ));
        assert!(matches!(
            repack(WeightFormat::F32, usize::MAX / 2, 4, &[]),
            Err(WeightError::TooLarge { .. })
        ));
        assert!(matches!(
            repack(WeightFormat::Q6_K, 1 << 20, 1 << 20, &[]),
            Err(WeightError::TooLarge { .. })
        ));
    }
}
