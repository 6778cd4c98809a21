//! safetensors: an 8-byte little-endian header length `n`, `n` bytes of
//! UTF-8 JSON mapping each tensor name to `{dtype, shape, data_offsets}`
//! (plus an optional `__metadata__` map of strings), then the data section.
//! `data_offsets` are `[begin, end)` relative to the data section, which the
//! tensors must cover entirely, without holes or overlaps (the format's rule
//! against polyglot files).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::Write;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;

use super::error::{FormatError, Problem};
use super::source::ByteSource;
use super::tensor::{Dtype, Encoding, TensorIndex, TensorInfo, TensorToWrite, read_range};

/// The largest header Sculpt reads. The reference implementation's limit
/// (100 MB) is far above any real header (FLUX's is about 100 KB) and keeps a
/// crafted length from making the reader allocate gigabytes.
pub const MAX_HEADER_LEN: u64 = 100 << 20;

/// The key of the optional string-to-string metadata map.
pub const METADATA_KEY: &str = "__metadata__";

/// A parsed safetensors header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Safetensors {
    pub index: TensorIndex,
    pub metadata: BTreeMap<String, String>,
    /// Absolute offset of the data section (8 + header length).
    pub data_start: u64,
}

/// Reads and validates a safetensors header against the source's real
/// length. Only the header is read; tensor bytes stay in the source.
pub async fn read_safetensors<S: ByteSource>(source: &mut S) -> Result<Safetensors, FormatError> {
    let file = source.name().to_owned();
    let fail = |problem| FormatError::new(file.clone(), problem);
    let file_len = source.len();

    let length_bytes = read_range(source, 0..8.min(file_len), "the 8-byte header length").await?;
    let Ok(length_bytes) = <[u8; 8]>::try_from(length_bytes.as_slice()) else {
        return Err(fail(Problem::Truncated {
            what: "the 8-byte header length".into(),
            offset: 0,
            needed: 8,
            file_len,
        }));
    };
    let header_len = u64::from_le_bytes(length_bytes);
    if header_len > MAX_HEADER_LEN {
        return Err(fail(Problem::HeaderTooLarge {
            header_len,
            limit: MAX_HEADER_LEN,
        }));
    }
    // header_len <= MAX_HEADER_LEN, so the sum cannot overflow.
    let data_start = 8 + header_len;
    if data_start > file_len {
        return Err(fail(Problem::Truncated {
            what: format!("the {header_len}-byte header"),
            offset: 8,
            needed: header_len,
            file_len,
        }));
    }
    let header = read_range(source, 8..data_start, "the header").await?;
    let entries = parse_header(&header).map_err(|problem| fail(*problem))?;
    let data_len = file_len - data_start;
    let (tensors, metadata) =
        validate_entries(entries, data_start, data_len).map_err(|problem| fail(*problem))?;
    Ok(Safetensors {
        index: TensorIndex::from_unique(tensors),
        metadata,
        data_start,
    })
}

/// One header entry before validation: a tensor or the metadata map.
enum Entry {
    Tensor {
        name: String,
        dtype: Dtype,
        shape: Vec<u64>,
        begin: u64,
        end: u64,
    },
    Metadata(BTreeMap<String, String>),
}

#[derive(Deserialize)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// Problems are boxed so that the `Result` stays small.
fn parse_header(header: &[u8]) -> Result<Vec<Entry>, Box<Problem>> {
    if header.first() != Some(&b'{') {
        return Err(Box::new(Problem::HeaderNotAnObject));
    }
    let text = std::str::from_utf8(header).map_err(|error| {
        Box::new(Problem::HeaderNotUtf8 {
            valid_up_to: error.valid_up_to(),
        })
    })?;
    // Each entry's value is kept as raw JSON text borrowed from the header,
    // so that it can be parsed on its own and an error can name its key,
    // without building a JSON tree many times the header's size.
    let RawEntries(raw) = serde_json::from_str(text).map_err(|error| {
        Box::new(Problem::HeaderNotJson {
            detail: error.to_string(),
        })
    })?;
    let mut seen = HashSet::with_capacity(raw.len());
    let mut entries = Vec::with_capacity(raw.len());
    for (key, value) in &raw {
        let key = key.as_str();
        if !seen.insert(key) {
            return Err(Box::new(Problem::DuplicateHeaderKey {
                key: key.to_owned(),
            }));
        }
        let malformed = |detail: String| {
            Box::new(Problem::MalformedEntry {
                key: key.to_owned(),
                detail,
            })
        };
        if key == METADATA_KEY {
            let metadata = serde_json::from_str(value.get())
                .map_err(|error| malformed(format!("it must map strings to strings ({error})")))?;
            entries.push(Entry::Metadata(metadata));
            continue;
        }
        let tensor: RawTensor =
            serde_json::from_str(value.get()).map_err(|error| malformed(error.to_string()))?;
        let dtype = Dtype::from_name(&tensor.dtype).ok_or_else(|| {
            Box::new(Problem::UnknownDtype {
                tensor: key.to_owned(),
                dtype: tensor.dtype.clone(),
            })
        })?;
        entries.push(Entry::Tensor {
            name: key.to_owned(),
            dtype,
            shape: tensor.shape,
            begin: tensor.data_offsets.0,
            end: tensor.data_offsets.1,
        });
    }
    Ok(entries)
}

/// The header's entries in file order, values unparsed.
struct RawEntries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for RawEntries<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = RawEntries<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object mapping tensor names to tensor entries")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    entries.push(entry);
                }
                Ok(RawEntries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// The tensors and metadata of a header that passed validation.
type ValidHeader = (Vec<TensorInfo>, BTreeMap<String, String>);

fn validate_entries(
    entries: Vec<Entry>,
    data_start: u64,
    data_len: u64,
) -> Result<ValidHeader, Box<Problem>> {
    let mut metadata = BTreeMap::new();
    // (begin, end, name) in data-section offsets, for the coverage check.
    let mut ranges = Vec::with_capacity(entries.len());
    let mut tensors = Vec::with_capacity(entries.len());
    for entry in entries {
        let (name, dtype, shape, begin, end) = match entry {
            Entry::Metadata(map) => {
                metadata = map;
                continue;
            }
            Entry::Tensor {
                name,
                dtype,
                shape,
                begin,
                end,
            } => (name, dtype, shape, begin, end),
        };
        if begin > end {
            return Err(Box::new(Problem::ReversedRange {
                tensor: name,
                begin,
                end,
            }));
        }
        let encoding = Encoding::Plain(dtype);
        let Some(expected) = encoding.bytes_for(&shape) else {
            return Err(Box::new(Problem::TensorSizeOverflow {
                tensor: name,
                shape,
            }));
        };
        if expected != end - begin {
            return Err(Box::new(Problem::RangeSizeMismatch {
                tensor: name,
                shape,
                dtype: dtype.name().to_owned(),
                expected,
                begin,
                end,
                actual: end - begin,
            }));
        }
        if end > data_len {
            return Err(Box::new(Problem::RangePastEnd {
                tensor: name,
                end,
                data_len,
            }));
        }
        ranges.push((begin, end, name.clone()));
        tensors.push(TensorInfo {
            name,
            shape,
            encoding,
            // end <= data_len, so these sums stay within the file length.
            bytes: data_start + begin..data_start + end,
        });
    }
    ranges.sort();
    let mut covered_to = 0;
    let mut previous: Option<&str> = None;
    for (begin, end, name) in &ranges {
        if *begin < covered_to {
            return Err(Box::new(Problem::RangesOverlap {
                tensor: name.clone(),
                begin: *begin,
                previous: previous.unwrap_or_default().to_owned(),
                previous_end: covered_to,
            }));
        }
        if *begin > covered_to {
            return Err(Box::new(Problem::RangeGap {
                tensor: name.clone(),
                begin: *begin,
                gap_start: covered_to,
            }));
        }
        covered_to = *end;
        previous = Some(name);
    }
    if covered_to != data_len {
        return Err(Box::new(Problem::DataNotCovered {
            indexed: covered_to,
            data_len,
        }));
    }
    Ok((tensors, metadata))
}

/// Writes a safetensors file: tensors' bytes in the order given, the header
/// padded with spaces so that the data section starts on an 8-byte boundary
/// (as the reference writer does, so that readers can map f64/i64 data in
/// place).
pub fn write_safetensors<W: Write>(
    out: &mut W,
    tensors: &[TensorToWrite<'_>],
    metadata: &BTreeMap<String, String>,
) -> Result<(), FormatError> {
    const WRITER: &str = "safetensors writer";
    let cannot = |tensor: &str, detail| FormatError::cannot_write(WRITER, tensor, detail);
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert(METADATA_KEY.into(), serde_json::json!(metadata));
    }
    let mut offset = 0u64;
    for tensor in tensors {
        let Encoding::Plain(dtype) = tensor.encoding else {
            return Err(cannot(
                tensor.name,
                format!("safetensors cannot store {} blocks", tensor.encoding),
            ));
        };
        if tensor.name == METADATA_KEY {
            return Err(cannot(
                tensor.name,
                "the name is reserved for metadata".into(),
            ));
        }
        tensor.check(WRITER)?;
        let end = offset + tensor.bytes.len() as u64;
        let entry = serde_json::json!({
            "dtype": dtype.name(),
            "shape": tensor.shape,
            "data_offsets": [offset, end],
        });
        if header.insert(tensor.name.to_owned(), entry).is_some() {
            return Err(cannot(tensor.name, "the name is given twice".into()));
        }
        offset = end;
    }
    let mut header = serde_json::to_vec(&serde_json::Value::Object(header))
        .map_err(|error| cannot("(header)", error.to_string()))?;
    header.resize(header.len().next_multiple_of(8), b' ');
    let write = |out: &mut W, bytes: &[u8]| {
        out.write_all(bytes)
            .map_err(|error| FormatError::new(WRITER, Problem::Write(error)))
    };
    write(out, &(header.len() as u64).to_le_bytes())?;
    write(out, &header)?;
    for tensor in tensors {
        write(out, tensor.bytes)?;
    }
    Ok(())
}

/// [`write_safetensors`] into a new buffer.
pub fn safetensors_bytes(
    tensors: &[TensorToWrite<'_>],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    write_safetensors(&mut out, tensors, metadata)?;
    Ok(out)
}

/// Writes f32 tensors, each `(name, shape outermost first, values)` in the
/// order given, as a safetensors file without metadata: the form test
/// weights and the CLI's dumped activations take.
pub fn write_f32_safetensors<'a, W: Write>(
    out: &mut W,
    tensors: impl IntoIterator<Item = (&'a str, &'a [usize], &'a [f32])>,
) -> Result<(), FormatError> {
    let stored: Vec<(&str, Vec<u64>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, shape, values)| {
            let shape = shape.iter().map(|&dim| dim as u64).collect();
            let bytes = values
                .iter()
                .flat_map(|value| value.to_le_bytes())
                .collect();
            (name, shape, bytes)
        })
        .collect();
    let to_write: Vec<TensorToWrite> = stored
        .iter()
        .map(|(name, shape, bytes)| TensorToWrite {
            name,
            shape,
            encoding: Encoding::Plain(Dtype::F32),
            bytes,
        })
        .collect();
    write_safetensors(out, &to_write, &BTreeMap::new())
}

/// [`write_f32_safetensors`] into a new buffer.
pub fn f32_safetensors_bytes<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a [usize], &'a [f32])>,
) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    write_f32_safetensors(&mut out, tensors)?;
    Ok(out)
}
