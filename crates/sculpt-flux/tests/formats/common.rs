//! Helpers shared by the format tests: running the async readers, sample
//! tensors, a byte builder for crafted GGUF files, and a measure of the
//! largest allocation a piece of code makes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;

use sculpt_flux::formats::gguf::{self, MetadataArray, MetadataValue};
use sculpt_flux::formats::{
    Dtype, Encoding, FormatError, Gguf, MemorySource, Safetensors, TensorToWrite, WeightFile,
};
use sculpt_gpu::weights::WeightFormat;

pub fn read_gguf_bytes(name: &str, bytes: &[u8]) -> Result<Gguf, FormatError> {
    pollster::block_on(gguf::read_gguf(&mut MemorySource::new(name, bytes)))
}

pub fn read_safetensors_bytes(name: &str, bytes: &[u8]) -> Result<Safetensors, FormatError> {
    pollster::block_on(sculpt_flux::formats::read_safetensors(
        &mut MemorySource::new(name, bytes),
    ))
}

pub fn read_weight_file_bytes(name: &str, bytes: &[u8]) -> Result<WeightFile, FormatError> {
    pollster::block_on(sculpt_flux::formats::read_weight_file(
        &mut MemorySource::new(name, bytes),
    ))
}

/// Deterministic bytes that look random (xorshift), so that byte-exact
/// comparisons mean something.
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A tensor with owned bytes, for building files.
pub struct OwnedTensor {
    pub name: String,
    pub shape: Vec<u64>,
    pub encoding: Encoding,
    pub bytes: Vec<u8>,
}

impl OwnedTensor {
    pub fn random(name: &str, shape: &[u64], encoding: Encoding, seed: u64) -> Self {
        let len = encoding.bytes_for(shape).expect("a valid test shape") as usize;
        Self {
            name: name.into(),
            shape: shape.to_vec(),
            encoding,
            bytes: pseudo_random_bytes(seed, len),
        }
    }

    pub fn to_write(&self) -> TensorToWrite<'_> {
        TensorToWrite {
            name: &self.name,
            shape: &self.shape,
            encoding: self.encoding,
            bytes: &self.bytes,
        }
    }
}

pub fn to_write(tensors: &[OwnedTensor]) -> Vec<TensorToWrite<'_>> {
    tensors.iter().map(OwnedTensor::to_write).collect()
}

/// One tensor of every GGUF weight format, in shapes of 1 to 4 dimensions,
/// named as in a city96 FLUX file.
pub fn gguf_sample_tensors() -> Vec<OwnedTensor> {
    use WeightFormat::*;
    let cases: [(&str, &[u64], WeightFormat); 12] = [
        ("img_in.weight", &[3, 8], F32),
        ("img_in.bias", &[3], F32),
        ("time_in.in_layer.weight", &[2, 5], F16),
        ("vector_in.in_layer.weight", &[2, 3, 6], BF16),
        ("double_blocks.0.img_attn.qkv.weight", &[3, 64], Q8_0),
        ("double_blocks.0.img_mlp.0.weight", &[2, 32], Q4_0),
        ("double_blocks.0.img_mlp.2.weight", &[1, 2, 32], Q4_1),
        ("single_blocks.0.linear1.weight", &[2, 32], Q5_0),
        ("single_blocks.0.linear2.weight", &[1, 1, 2, 32], Q5_1),
        ("single_blocks.1.linear1.weight", &[2, 256], Q4_K),
        ("single_blocks.1.linear2.weight", &[1, 512], Q5_K),
        ("final_layer.linear.weight", &[2, 256], Q6_K),
    ];
    cases
        .iter()
        .enumerate()
        .map(|(seed, (name, shape, format))| {
            OwnedTensor::random(
                name,
                shape,
                Encoding::from_weight_format(*format),
                seed as u64,
            )
        })
        .collect()
}

/// Metadata of every value type, arrays of every element type included.
pub fn gguf_sample_metadata() -> Vec<(String, MetadataValue)> {
    vec![
        (
            "general.architecture".into(),
            MetadataValue::String("flux".into()),
        ),
        (
            "general.name".into(),
            MetadataValue::String("Sculpt test ✓".into()),
        ),
        ("test.u8".into(), MetadataValue::U8(200)),
        ("test.i8".into(), MetadataValue::I8(-100)),
        ("test.u16".into(), MetadataValue::U16(60_000)),
        ("test.i16".into(), MetadataValue::I16(-30_000)),
        ("test.u32".into(), MetadataValue::U32(4_000_000_000)),
        ("test.i32".into(), MetadataValue::I32(-2_000_000_000)),
        ("test.f32".into(), MetadataValue::F32(0.3611)),
        ("test.bool".into(), MetadataValue::Bool(true)),
        ("test.u64".into(), MetadataValue::U64(u64::MAX - 1)),
        ("test.i64".into(), MetadataValue::I64(i64::MIN + 1)),
        ("test.f64".into(), MetadataValue::F64(-1e300)),
        (
            "test.array.u8".into(),
            MetadataValue::Array(MetadataArray::U8(vec![1, 2, 255])),
        ),
        (
            "test.array.i8".into(),
            MetadataValue::Array(MetadataArray::I8(vec![-1, 2])),
        ),
        (
            "test.array.u16".into(),
            MetadataValue::Array(MetadataArray::U16(vec![1, 65535])),
        ),
        (
            "test.array.i16".into(),
            MetadataValue::Array(MetadataArray::I16(vec![-2, 3])),
        ),
        (
            "test.array.u32".into(),
            MetadataValue::Array(MetadataArray::U32(vec![16, 56, 56])),
        ),
        (
            "test.array.i32".into(),
            MetadataValue::Array(MetadataArray::I32(vec![-7])),
        ),
        (
            "test.array.f32".into(),
            MetadataValue::Array(MetadataArray::F32(vec![0.5, -2.25])),
        ),
        (
            "test.array.bool".into(),
            MetadataValue::Array(MetadataArray::Bool(vec![true, false])),
        ),
        (
            "test.array.string".into(),
            MetadataValue::Array(MetadataArray::String(vec![
                "a".into(),
                String::new(),
                "ü".into(),
            ])),
        ),
        (
            "test.array.u64".into(),
            MetadataValue::Array(MetadataArray::U64(vec![u64::MAX])),
        ),
        (
            "test.array.i64".into(),
            MetadataValue::Array(MetadataArray::I64(vec![i64::MIN, 0])),
        ),
        (
            "test.array.f64".into(),
            MetadataValue::Array(MetadataArray::F64(vec![1.5])),
        ),
        (
            "test.array.empty".into(),
            MetadataValue::Array(MetadataArray::F32(vec![])),
        ),
    ]
}

pub fn metadata_refs(metadata: &[(String, MetadataValue)]) -> Vec<(&str, &MetadataValue)> {
    metadata
        .iter()
        .map(|(key, value)| (key.as_str(), value))
        .collect()
}

pub fn sample_gguf() -> Vec<u8> {
    let tensors = gguf_sample_tensors();
    let metadata = gguf_sample_metadata();
    gguf::gguf_bytes(&metadata_refs(&metadata), &to_write(&tensors)).expect("a valid sample")
}

/// One tensor of every safetensors dtype, FLUX and T5 names.
pub fn safetensors_sample_tensors() -> Vec<OwnedTensor> {
    let cases: [(&str, &[u64]); 15] = [
        ("double_blocks.0.img_attn.norm.query_norm.scale", &[128]),
        ("img_in.weight", &[4, 6]),
        ("img_in.bias", &[4]),
        ("txt_in.weight", &[3, 2, 2]),
        ("encoder.block.0.layer.0.SelfAttention.q.weight", &[2, 3]),
        ("position_ids", &[1, 7]),
        ("token_type_ids", &[5]),
        ("mask", &[3]),
        ("u8", &[2, 2]),
        ("i8", &[3]),
        ("f8_e5m2", &[4]),
        ("i16", &[2]),
        ("u16", &[2]),
        ("u32", &[1]),
        ("scalar", &[]),
    ];
    let dtypes = [
        Dtype::F32,
        Dtype::BF16,
        Dtype::BF16,
        Dtype::F16,
        Dtype::F8_E4M3,
        Dtype::I64,
        Dtype::I32,
        Dtype::BOOL,
        Dtype::U8,
        Dtype::I8,
        Dtype::F8_E5M2,
        Dtype::I16,
        Dtype::U16,
        Dtype::U32,
        Dtype::F64,
    ];
    let mut tensors: Vec<OwnedTensor> = cases
        .iter()
        .zip(dtypes)
        .enumerate()
        .map(|(seed, ((name, shape), dtype))| {
            OwnedTensor::random(name, shape, Encoding::Plain(dtype), 100 + seed as u64)
        })
        .collect();
    // Bools must be 0 or 1 to mean anything; the format does not check.
    for byte in &mut tensors[7].bytes {
        *byte &= 1;
    }
    tensors.push(OwnedTensor::random(
        "empty",
        &[0, 3],
        Encoding::Plain(Dtype::F32),
        0,
    ));
    tensors.push(OwnedTensor::random(
        "u64",
        &[1],
        Encoding::Plain(Dtype::U64),
        1,
    ));
    tensors
}

pub fn safetensors_sample_metadata() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        ("sculpt".to_string(), "ünïcode".to_string()),
    ])
}

pub fn sample_safetensors() -> Vec<u8> {
    let tensors = safetensors_sample_tensors();
    sculpt_flux::formats::safetensors_bytes(&to_write(&tensors), &safetensors_sample_metadata())
        .expect("a valid sample")
}

/// Builds GGUF bytes field by field, so that tests can write any value in
/// any field.
#[derive(Default)]
pub struct GgufBuilder {
    pub bytes: Vec<u8>,
}

impl GgufBuilder {
    /// Magic, version, tensor count and metadata count.
    pub fn header(version: u32, tensor_count: u64, kv_count: u64) -> Self {
        let mut builder = Self::default();
        builder.bytes.extend_from_slice(b"GGUF");
        builder.u32(version).u64(tensor_count).u64(kv_count);
        builder
    }

    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.bytes.push(value);
        self
    }

    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub fn string(&mut self, text: &str) -> &mut Self {
        self.u64(text.len() as u64);
        self.bytes.extend_from_slice(text.as_bytes());
        self
    }

    /// A tensor info: dims innermost first, as GGUF stores them.
    pub fn tensor_info(
        &mut self,
        name: &str,
        dims: &[u64],
        ggml_type: u32,
        offset: u64,
    ) -> &mut Self {
        self.string(name).u32(dims.len() as u32);
        for &dim in dims {
            self.u64(dim);
        }
        self.u32(ggml_type).u64(offset)
    }

    /// Zero padding up to the next multiple of `alignment`.
    pub fn pad_to(&mut self, alignment: usize) -> &mut Self {
        self.bytes
            .resize(self.bytes.len().next_multiple_of(alignment), 0);
        self
    }

    pub fn zeros(&mut self, len: usize) -> &mut Self {
        self.bytes.resize(self.bytes.len() + len, 0);
        self
    }

    pub fn build(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

/// A safetensors file from a header text and a data section of `data_len` bytes.
pub fn safetensors_with_header(header: &str, data_len: usize) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.resize(bytes.len() + data_len, 0);
    bytes
}

// --- Measuring allocations -------------------------------------------------

/// Records, per thread, the largest single allocation, so that a test can
/// show that a crafted length did not turn into a large allocation.
struct LargestAllocationTracker;

thread_local! {
    static LARGEST_ALLOCATION: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation(size: usize) {
    // try_with: the slot is gone while the thread is being torn down.
    let _ = LARGEST_ALLOCATION.try_with(|largest| {
        if size > largest.get() {
            largest.set(size);
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// tracker only records sizes in a thread-local Cell that never allocates.
unsafe impl GlobalAlloc for LargestAllocationTracker {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocationTracker = LargestAllocationTracker;

/// Runs `f` and returns its result with the largest single allocation it
/// made on this thread.
pub fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST_ALLOCATION.with(|largest| largest.set(0));
    let result = f();
    (result, LARGEST_ALLOCATION.with(Cell::get))
}

/// The most a crafted file of a few hundred bytes may make a reader
/// allocate at once: far below what any of the crafted lengths ask for.
pub const SMALL_ALLOCATION: usize = 64 << 10;

/// Parses `bytes` as GGUF and returns the error, checking that parsing
/// allocated little and took little time.
pub fn gguf_error(bytes: &[u8]) -> FormatError {
    let started = std::time::Instant::now();
    let (result, largest) = largest_allocation(|| read_gguf_bytes("crafted.gguf", bytes));
    let error = result.expect_err("a crafted file must be refused");
    assert!(
        largest < SMALL_ALLOCATION,
        "a {}-byte file made the reader allocate {largest} bytes at once ({error})",
        bytes.len()
    );
    assert!(
        started.elapsed().as_secs() < 2,
        "refusing took {:?}",
        started.elapsed()
    );
    assert_eq!(error.file(), "crafted.gguf");
    assert!(error.to_string().starts_with("crafted.gguf: "), "{error}");
    error
}

/// As [`gguf_error`], for safetensors.
pub fn safetensors_error(bytes: &[u8]) -> FormatError {
    let started = std::time::Instant::now();
    let (result, largest) =
        largest_allocation(|| read_safetensors_bytes("crafted.safetensors", bytes));
    let error = result.expect_err("a crafted file must be refused");
    assert!(
        largest < SMALL_ALLOCATION.max(4 * bytes.len()),
        "a {}-byte file made the reader allocate {largest} bytes at once ({error})",
        bytes.len()
    );
    assert!(
        started.elapsed().as_secs() < 2,
        "refusing took {:?}",
        started.elapsed()
    );
    assert!(
        error.to_string().starts_with("crafted.safetensors: "),
        "{error}"
    );
    error
}
