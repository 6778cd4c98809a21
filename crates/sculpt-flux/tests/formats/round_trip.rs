//! Writing with Sculpt's writers and reading back: every format, dtype,
//! metadata type and shape comes back byte for byte; rows and bounded reads.

use std::io;

use sculpt_flux::formats::gguf::{self, MetadataValue};
use sculpt_flux::formats::{
    ByteSource, Dtype, Encoding, FileSource, MAX_READ, MemorySource, Problem, TensorToWrite,
    WeightFile, read_rows, read_tensor_bytes, safetensors_bytes,
};
use sculpt_gpu::weights::{WeightFormat, repack};

use crate::common::*;

#[test]
fn gguf_round_trip_keeps_every_format_shape_metadata_value_and_byte() {
    let tensors = gguf_sample_tensors();
    let metadata = gguf_sample_metadata();
    let bytes = sample_gguf();
    let file = read_gguf_bytes("sample.gguf", &bytes).unwrap();
    assert_eq!(file.version, 3);
    assert_eq!(file.alignment, 32);
    assert_eq!(file.metadata, metadata);
    assert_eq!(file.data_start % 32, 0);
    assert_eq!(file.index.len(), tensors.len());
    let mut source = MemorySource::new("sample.gguf", &bytes);
    for tensor in &tensors {
        let info = file.index.get(&tensor.name).unwrap();
        assert_eq!(info.shape, tensor.shape, "{}", tensor.name);
        assert_eq!(info.encoding, tensor.encoding, "{}", tensor.name);
        assert_eq!(
            (info.bytes.start - file.data_start) % 32,
            0,
            "{}",
            tensor.name
        );
        let read = pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap();
        assert_eq!(read, tensor.bytes, "{}", tensor.name);
    }
}

#[test]
fn gguf_float_tensors_read_as_the_same_encoding_as_safetensors() {
    let file = read_gguf_bytes("sample.gguf", &sample_gguf()).unwrap();
    let f16 = file.index.get("time_in.in_layer.weight").unwrap();
    assert_eq!(f16.encoding, Encoding::Plain(Dtype::F16));
    assert_eq!(f16.encoding.weight_format(), Some(WeightFormat::F16));
    let q4_k = file.index.get("single_blocks.1.linear1.weight").unwrap();
    assert_eq!(q4_k.encoding, Encoding::Quantized(WeightFormat::Q4_K));
    assert_eq!((q4_k.rows(), q4_k.cols(), q4_k.row_bytes()), (2, 256, 144));
}

#[test]
fn gguf_alignment_from_metadata_places_every_tensor() {
    let tensors = gguf_sample_tensors();
    let alignment = MetadataValue::U32(256);
    let bytes =
        gguf::gguf_bytes(&[(gguf::ALIGNMENT_KEY, &alignment)], &to_write(&tensors)).unwrap();
    let file = read_gguf_bytes("aligned.gguf", &bytes).unwrap();
    assert_eq!(file.alignment, 256);
    assert_eq!(file.data_start % 256, 0);
    let mut source = MemorySource::new("aligned.gguf", &bytes);
    for tensor in &tensors {
        let info = file.index.get(&tensor.name).unwrap();
        assert_eq!((info.bytes.start - file.data_start) % 256, 0);
        assert_eq!(
            pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap(),
            tensor.bytes
        );
    }
}

#[test]
fn gguf_tensors_hand_their_bytes_to_repack() {
    let bytes = sample_gguf();
    let file = read_gguf_bytes("sample.gguf", &bytes).unwrap();
    let mut source = MemorySource::new("sample.gguf", &bytes);
    for info in file
        .index
        .tensors()
        .iter()
        .filter(|info| info.shape.len() == 2)
    {
        let format = info.encoding.weight_format().unwrap();
        let weight = pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap();
        let packed = repack(format, info.rows() as usize, info.cols() as usize, &weight).unwrap();
        assert_eq!(packed.rows() as u64, info.rows(), "{}", info.name);
        assert_eq!(packed.cols() as u64, info.cols(), "{}", info.name);
    }
}

#[test]
fn safetensors_round_trip_keeps_every_dtype_shape_and_byte() {
    let tensors = safetensors_sample_tensors();
    let bytes = sample_safetensors();
    let file = read_safetensors_bytes("sample.safetensors", &bytes).unwrap();
    assert_eq!(file.metadata, safetensors_sample_metadata());
    assert_eq!(
        file.data_start % 8,
        0,
        "the writer pads the header to 8 bytes"
    );
    assert_eq!(file.index.len(), tensors.len());
    let mut source = MemorySource::new("sample.safetensors", &bytes);
    for tensor in &tensors {
        let info = file.index.get(&tensor.name).unwrap();
        assert_eq!(info.shape, tensor.shape, "{}", tensor.name);
        assert_eq!(info.encoding, tensor.encoding, "{}", tensor.name);
        let read = pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap();
        assert_eq!(read, tensor.bytes, "{}", tensor.name);
    }
    let scalar = file.index.get("scalar").unwrap();
    assert_eq!((scalar.rows(), scalar.cols(), scalar.byte_len()), (1, 1, 8));
    assert_eq!(file.index.get("empty").unwrap().byte_len(), 0);
}

#[test]
fn safetensors_without_metadata_or_tensors_round_trips() {
    let bytes = safetensors_bytes(&[], &Default::default()).unwrap();
    let file = read_safetensors_bytes("empty.safetensors", &bytes).unwrap();
    assert!(file.index.is_empty());
    assert!(file.metadata.is_empty());
}

#[test]
fn rows_read_in_any_slabs_concatenate_to_the_whole_tensor() {
    let bytes = sample_gguf();
    let file = read_gguf_bytes("sample.gguf", &bytes).unwrap();
    let mut source = MemorySource::new("sample.gguf", &bytes);
    for info in file.index.tensors() {
        let whole = pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap();
        let rows = info.rows();
        for slab in 1..=rows {
            let mut joined = Vec::new();
            let mut first = 0;
            while first < rows {
                let count = slab.min(rows - first);
                let piece = pollster::block_on(read_rows(&mut source, info, first, count)).unwrap();
                assert_eq!(piece.len() as u64, count * info.row_bytes());
                joined.extend_from_slice(&piece);
                first += count;
            }
            assert_eq!(joined, whole, "{} in slabs of {slab}", info.name);
        }
    }
}

#[test]
fn rows_outside_the_tensor_are_refused() {
    let bytes = sample_gguf();
    let file = read_gguf_bytes("sample.gguf", &bytes).unwrap();
    let info = file
        .index
        .get("double_blocks.0.img_attn.qkv.weight")
        .unwrap();
    let mut source = MemorySource::new("sample.gguf", &bytes);
    for (first, count) in [(0, 4), (3, 1), (2, 2), (1, u64::MAX), (u64::MAX, 1)] {
        let error = pollster::block_on(read_rows(&mut source, info, first, count)).unwrap_err();
        assert!(matches!(
            error.problem(),
            Problem::RowsOutOfRange { total: 3, .. }
        ));
        assert!(
            error
                .to_string()
                .contains("'double_blocks.0.img_attn.qkv.weight' has 3 rows"),
            "{error}"
        );
    }
}

#[test]
fn a_native_file_reads_like_memory() {
    let bytes = sample_gguf();
    let path = std::env::temp_dir().join(format!("sculpt-formats-{}.gguf", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let mut source = FileSource::new(file, "on-disk.gguf").unwrap();
    assert_eq!(source.len(), bytes.len() as u64);
    let from_file = pollster::block_on(gguf::read_gguf(&mut source)).unwrap();
    let from_memory = read_gguf_bytes("sample.gguf", &bytes).unwrap();
    assert_eq!(from_file, from_memory);
    for info in from_file.index.tensors() {
        let read = pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap();
        assert_eq!(
            read,
            bytes[info.bytes.start as usize..info.bytes.end as usize]
        );
    }
    let mut past_end = [0u8; 8];
    let error =
        pollster::block_on(source.read_at(bytes.len() as u64 - 4, &mut past_end)).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    drop(source);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn memory_sources_refuse_ranges_past_the_end() {
    let mut source = MemorySource::new("four.bin", vec![1u8, 2, 3, 4]);
    let mut buf = [0u8; 2];
    pollster::block_on(source.read_at(2, &mut buf)).unwrap();
    assert_eq!(buf, [3, 4]);
    for offset in [3, 4, u64::MAX - 1, u64::MAX] {
        let error = pollster::block_on(source.read_at(offset, &mut buf)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}

#[test]
fn read_weight_file_tells_the_formats_apart() {
    let gguf = read_weight_file_bytes("a.gguf", &sample_gguf()).unwrap();
    assert!(matches!(gguf, WeightFile::Gguf(_)));
    assert_eq!(gguf.index().len(), gguf_sample_tensors().len());
    let safetensors = read_weight_file_bytes("a.safetensors", &sample_safetensors()).unwrap();
    assert!(matches!(safetensors, WeightFile::Safetensors(_)));
    assert_eq!(
        safetensors.index().len(),
        safetensors_sample_tensors().len()
    );
    let error = read_weight_file_bytes("tiny.bin", b"GG").unwrap_err();
    assert!(error.to_string().starts_with("tiny.bin: "), "{error}");
}

/// Records the largest request a reader makes of its source.
struct RecordingSource<'a> {
    inner: MemorySource<&'a [u8]>,
    largest_request: usize,
}

impl ByteSource for RecordingSource<'_> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }

    async fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.largest_request = self.largest_request.max(buf.len());
        self.inner.read_at(offset, buf).await
    }
}

#[test]
fn readers_never_ask_a_source_for_more_than_max_read() {
    let len = MAX_READ + 4096 + 3;
    let mut data = vec![0u8; len];
    data[0] = 1;
    data[MAX_READ] = 2;
    data[len - 1] = 3;
    let shape = [len as u64];
    let tensor = TensorToWrite {
        name: "large",
        shape: &shape,
        encoding: Encoding::Plain(Dtype::U8),
        bytes: &data,
    };
    let bytes = safetensors_bytes(&[tensor], &Default::default()).unwrap();
    let mut source = RecordingSource {
        inner: MemorySource::new("large.safetensors", &bytes),
        largest_request: 0,
    };
    let file = pollster::block_on(sculpt_flux::formats::read_safetensors(&mut source)).unwrap();
    let info = file.index.get("large").unwrap();
    let read = pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap();
    assert!(read == data, "the large tensor came back different");
    let rows = pollster::block_on(read_rows(&mut source, info, 0, 1)).unwrap();
    assert!(rows == data);
    assert!(
        source.largest_request <= MAX_READ,
        "asked for {}",
        source.largest_request
    );
}

#[test]
fn writers_refuse_tensors_their_readers_would_refuse() {
    let bytes = [0u8; 8];
    let cases: [(TensorToWrite<'_>, &str); 4] = [
        (
            TensorToWrite {
                name: "short",
                shape: &[3],
                encoding: Encoding::Plain(Dtype::F32),
                bytes: &bytes,
            },
            "takes 12 bytes, but 8 were given",
        ),
        (
            TensorToWrite {
                name: "quant",
                shape: &[1, 32],
                encoding: Encoding::Quantized(WeightFormat::Q4_0),
                bytes: &bytes,
            },
            "takes 18 bytes",
        ),
        (
            TensorToWrite {
                name: "half-block",
                shape: &[1, 16],
                encoding: Encoding::Quantized(WeightFormat::Q4_0),
                bytes: &bytes,
            },
            "not a whole number of Q4_0 blocks",
        ),
        (
            TensorToWrite {
                name: "__metadata__",
                shape: &[2],
                encoding: Encoding::Plain(Dtype::F32),
                bytes: &bytes,
            },
            "reserved",
        ),
    ];
    for (tensor, expected) in cases {
        let error = safetensors_bytes(&[tensor], &Default::default()).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(expected) || message.contains("safetensors cannot store"),
            "{message}"
        );
    }
    let f32 = TensorToWrite {
        name: "a",
        shape: &[2],
        encoding: Encoding::Plain(Dtype::F32),
        bytes: &bytes,
    };
    let twice = safetensors_bytes(&[f32, f32], &Default::default()).unwrap_err();
    assert!(twice.to_string().contains("given twice"), "{twice}");
    let twice = gguf::gguf_bytes(&[], &[f32, f32]).unwrap_err();
    assert!(twice.to_string().contains("given twice"), "{twice}");
    let i64_tensor = TensorToWrite {
        name: "ids",
        shape: &[1],
        encoding: Encoding::Plain(Dtype::I64),
        bytes: &bytes,
    };
    assert!(gguf::gguf_bytes(&[], &[i64_tensor]).is_err());
    let five_dims = TensorToWrite {
        name: "5d",
        shape: &[1, 1, 1, 1, 2],
        encoding: Encoding::Plain(Dtype::F32),
        bytes: &bytes,
    };
    assert!(
        gguf::gguf_bytes(&[], &[five_dims])
            .unwrap_err()
            .to_string()
            .contains("1 to 4")
    );
    let long_name = "n".repeat(64);
    let long = TensorToWrite {
        name: &long_name,
        shape: &[2],
        encoding: Encoding::Plain(Dtype::F32),
        bytes: &bytes,
    };
    assert!(gguf::gguf_bytes(&[], &[long]).is_err());
    for alignment in [
        MetadataValue::U32(0),
        MetadataValue::U32(48),
        MetadataValue::U64(32),
    ] {
        assert!(gguf::gguf_bytes(&[(gguf::ALIGNMENT_KEY, &alignment)], &[f32]).is_err());
    }
}

/// A source shaped like the browser's: shared, single-threaded state (an
/// `Rc`, so neither the source nor its futures are `Send`).
struct SharedChunkSource {
    chunks: std::rc::Rc<Vec<Vec<u8>>>,
    chunk_len: usize,
    len: u64,
}

impl ByteSource for SharedChunkSource {
    fn name(&self) -> &str {
        "shared chunks"
    }

    fn len(&self) -> u64 {
        self.len
    }

    async fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&end| end <= self.len);
        if end.is_none() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        for (position, byte) in buf.iter_mut().enumerate() {
            let at = offset as usize + position;
            *byte = self.chunks[at / self.chunk_len][at % self.chunk_len];
        }
        Ok(())
    }
}

#[test]
fn sources_need_not_be_send() {
    let bytes = sample_gguf();
    let chunk_len = 100;
    let mut source = SharedChunkSource {
        chunks: std::rc::Rc::new(bytes.chunks(chunk_len).map(<[u8]>::to_vec).collect()),
        chunk_len,
        len: bytes.len() as u64,
    };
    let file = pollster::block_on(gguf::read_gguf(&mut source)).unwrap();
    assert_eq!(file, read_gguf_bytes("sample.gguf", &bytes).unwrap());
    for info in file.index.tensors() {
        let read = pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap();
        assert_eq!(
            read,
            bytes[info.bytes.start as usize..info.bytes.end as usize]
        );
    }
}

/// A source whose reads fail after a number of bytes, like a storage
/// backend that loses a chunk.
struct FailingSource {
    inner: MemorySource<Vec<u8>>,
    fails_from: u64,
}

impl ByteSource for FailingSource {
    fn name(&self) -> &str {
        "flaky.gguf"
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }

    async fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset + buf.len() as u64 > self.fails_from {
            return Err(io::Error::other("the chunk store lost chunk 7"));
        }
        self.inner.read_at(offset, buf).await
    }
}

#[test]
fn read_failures_name_the_file_the_offset_and_the_cause() {
    let bytes = sample_gguf();
    let file = read_gguf_bytes("sample.gguf", &bytes).unwrap();
    let mut source = FailingSource {
        fails_from: file.data_start,
        inner: MemorySource::new("unused", bytes),
    };
    let info = &file.index.tensors()[0];
    let error = pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap_err();
    assert!(matches!(error.problem(), Problem::Read { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with("flaky.gguf: could not read"),
        "{message}"
    );
    assert!(
        message.contains("the chunk store lost chunk 7"),
        "{message}"
    );
    // The header itself cannot be read either when the store fails early.
    source.fails_from = 10;
    let error = pollster::block_on(gguf::read_gguf(&mut source)).unwrap_err();
    assert!(
        matches!(error.problem(), Problem::Read { offset: 0, .. }),
        "{error}"
    );
}
