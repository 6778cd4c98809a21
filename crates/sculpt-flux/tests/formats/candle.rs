//! Cross-checks against candle 0.9.2, an independent implementation of both
//! formats: candle reads what Sculpt writes, and Sculpt reads what candle
//! writes, with equal names, shapes, types, metadata and bytes.

use std::collections::HashMap;
use std::io::Cursor;

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{CpuStorage, DType, Device, Storage, Tensor};
use sculpt_flux::formats::gguf::{MetadataArray, MetadataValue};
use sculpt_flux::formats::{
    Dtype, Encoding, FileSource, MemorySource, read_safetensors, read_tensor_bytes,
};
use sculpt_gpu::weights::WeightFormat;

use crate::common::*;

/// The raw little-endian bytes of a contiguous CPU tensor.
fn candle_bytes(tensor: &Tensor) -> Vec<u8> {
    let tensor = tensor.contiguous().unwrap();
    let (storage, layout) = tensor.storage_and_layout();
    let Storage::Cpu(storage) = &*storage else {
        panic!("a CPU tensor")
    };
    let bytes: Vec<u8> = match storage {
        CpuStorage::U8(values) => values.clone(),
        CpuStorage::U32(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        CpuStorage::I16(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        CpuStorage::I32(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        CpuStorage::I64(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        CpuStorage::BF16(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        CpuStorage::F16(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        CpuStorage::F32(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        CpuStorage::F64(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        CpuStorage::F8E4M3(values) => values.iter().map(|v| v.to_bits()).collect(),
        _ => panic!("unexpected storage for {:?}", tensor.dtype()),
    };
    let element = tensor.dtype().size_in_bytes();
    let start = layout.start_offset() * element;
    bytes[start..start + tensor.elem_count() * element].to_vec()
}

fn candle_dtype(dtype: Dtype) -> Option<DType> {
    Some(match dtype {
        Dtype::U8 => DType::U8,
        Dtype::U32 => DType::U32,
        Dtype::I16 => DType::I16,
        Dtype::I32 => DType::I32,
        Dtype::I64 => DType::I64,
        Dtype::BF16 => DType::BF16,
        Dtype::F16 => DType::F16,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::F8_E4M3 => DType::F8E4M3,
        _ => return None,
    })
}

fn ggml_type_of(dtype: GgmlDType) -> u32 {
    match dtype {
        GgmlDType::F32 => 0,
        GgmlDType::F16 => 1,
        GgmlDType::Q4_0 => 2,
        GgmlDType::Q4_1 => 3,
        GgmlDType::Q5_0 => 6,
        GgmlDType::Q5_1 => 7,
        GgmlDType::Q8_0 => 8,
        GgmlDType::Q8_1 => 9,
        GgmlDType::Q2K => 10,
        GgmlDType::Q3K => 11,
        GgmlDType::Q4K => 12,
        GgmlDType::Q5K => 13,
        GgmlDType::Q6K => 14,
        GgmlDType::Q8K => 15,
        GgmlDType::BF16 => 30,
    }
}

fn to_candle_value(value: &MetadataValue) -> gguf_file::Value {
    use gguf_file::Value as V;
    fn all<T: Copy>(values: &[T], to: fn(T) -> V) -> V {
        V::Array(values.iter().map(|&v| to(v)).collect())
    }
    match value {
        MetadataValue::U8(v) => V::U8(*v),
        MetadataValue::I8(v) => V::I8(*v),
        MetadataValue::U16(v) => V::U16(*v),
        MetadataValue::I16(v) => V::I16(*v),
        MetadataValue::U32(v) => V::U32(*v),
        MetadataValue::I32(v) => V::I32(*v),
        MetadataValue::F32(v) => V::F32(*v),
        MetadataValue::Bool(v) => V::Bool(*v),
        MetadataValue::String(v) => V::String(v.clone()),
        MetadataValue::U64(v) => V::U64(*v),
        MetadataValue::I64(v) => V::I64(*v),
        MetadataValue::F64(v) => V::F64(*v),
        MetadataValue::Array(array) => match array {
            MetadataArray::U8(values) => all(values, V::U8),
            MetadataArray::I8(values) => all(values, V::I8),
            MetadataArray::U16(values) => all(values, V::U16),
            MetadataArray::I16(values) => all(values, V::I16),
            MetadataArray::U32(values) => all(values, V::U32),
            MetadataArray::I32(values) => all(values, V::I32),
            MetadataArray::F32(values) => all(values, V::F32),
            MetadataArray::Bool(values) => all(values, V::Bool),
            MetadataArray::String(values) => {
                V::Array(values.iter().cloned().map(V::String).collect())
            }
            MetadataArray::U64(values) => all(values, V::U64),
            MetadataArray::I64(values) => all(values, V::I64),
            MetadataArray::F64(values) => all(values, V::F64),
        },
    }
}

#[test]
fn candle_reads_gguf_files_sculpt_writes() {
    let tensors = gguf_sample_tensors();
    let metadata = gguf_sample_metadata();
    let bytes = sample_gguf();
    let mut reader = Cursor::new(&bytes);
    let content = gguf_file::Content::read(&mut reader).unwrap();
    assert_eq!(content.tensor_infos.len(), tensors.len());
    for tensor in &tensors {
        let info = &content.tensor_infos[&tensor.name];
        let shape: Vec<u64> = info.shape.dims().iter().map(|&d| d as u64).collect();
        assert_eq!(shape, tensor.shape, "{}", tensor.name);
        let format = tensor.encoding.weight_format().unwrap();
        assert_eq!(
            ggml_type_of(info.ggml_dtype),
            format.ggml_type(),
            "{}",
            tensor.name
        );
        let qtensor = content
            .tensor(&mut reader, &tensor.name, &Device::Cpu)
            .unwrap();
        assert_eq!(
            *qtensor.data().unwrap(),
            tensor.bytes[..],
            "{}",
            tensor.name
        );
    }
    assert_eq!(content.metadata.len(), metadata.len());
    for (key, value) in &metadata {
        let theirs = &content.metadata[key];
        assert_eq!(
            format!("{theirs:?}"),
            format!("{:?}", to_candle_value(value)),
            "{key}"
        );
    }
}

#[test]
fn sculpt_reads_gguf_files_candle_writes() {
    let device = Device::Cpu;
    let dtypes = [
        (GgmlDType::F32, vec![3, 8]),
        (GgmlDType::F16, vec![2, 5]),
        (GgmlDType::BF16, vec![4, 2, 3]),
        (GgmlDType::Q8_0, vec![3, 64]),
        (GgmlDType::Q4_0, vec![2, 32]),
        (GgmlDType::Q4_1, vec![2, 2, 32]),
        (GgmlDType::Q5_0, vec![1, 64]),
        (GgmlDType::Q5_1, vec![2, 32]),
        (GgmlDType::Q4K, vec![2, 256]),
        (GgmlDType::Q5K, vec![1, 1, 2, 256]),
        (GgmlDType::Q6K, vec![3, 256]),
    ];
    let qtensors: Vec<(String, QTensor)> = dtypes
        .iter()
        .enumerate()
        .map(|(seed, (dtype, shape))| {
            let count: usize = shape.iter().product();
            let values: Vec<f32> = pseudo_random_bytes(seed as u64, count)
                .iter()
                .map(|&b| f32::from(b) / 32.0 - 4.0)
                .collect();
            let tensor = Tensor::from_vec(values, shape.as_slice(), &device).unwrap();
            (
                format!("blk.{seed}.weight"),
                QTensor::quantize(&tensor, *dtype).unwrap(),
            )
        })
        .collect();
    let metadata: Vec<(String, gguf_file::Value)> = vec![
        (
            "general.architecture".into(),
            gguf_file::Value::String("flux".into()),
        ),
        ("flux.depth".into(), gguf_file::Value::U32(19)),
        ("flux.theta".into(), gguf_file::Value::F32(10_000.0)),
        (
            "flux.axes_dim".into(),
            gguf_file::Value::Array(vec![
                gguf_file::Value::U64(16),
                gguf_file::Value::U64(56),
                gguf_file::Value::U64(56),
            ]),
        ),
        ("flux.guidance".into(), gguf_file::Value::Bool(false)),
    ];
    let mut out = Cursor::new(Vec::new());
    let metadata_refs: Vec<(&str, &gguf_file::Value)> =
        metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = qtensors
        .iter()
        .map(|(name, t)| (name.as_str(), t))
        .collect();
    gguf_file::write(&mut out, &metadata_refs, &tensor_refs).unwrap();
    let bytes = out.into_inner();

    let file = read_gguf_bytes("candle.gguf", &bytes).unwrap();
    assert_eq!(file.version, 2, "candle writes version 2");
    assert_eq!(
        file.metadata_value("flux.depth"),
        Some(&MetadataValue::U32(19))
    );
    assert_eq!(
        file.metadata_value("flux.theta"),
        Some(&MetadataValue::F32(10_000.0))
    );
    assert_eq!(
        file.metadata_value("flux.axes_dim"),
        Some(&MetadataValue::Array(MetadataArray::U64(vec![16, 56, 56])))
    );
    assert_eq!(
        file.metadata_value("flux.guidance"),
        Some(&MetadataValue::Bool(false))
    );
    assert_eq!(
        file.metadata_value("general.architecture")
            .and_then(MetadataValue::as_str),
        Some("flux")
    );
    let mut source = MemorySource::new("candle.gguf", &bytes);
    for (name, qtensor) in &qtensors {
        let info = file.index.get(name).unwrap();
        let shape: Vec<u64> = qtensor.shape().dims().iter().map(|&d| d as u64).collect();
        assert_eq!(info.shape, shape, "{name}");
        let format = info.encoding.weight_format().unwrap();
        assert_eq!(format.ggml_type(), ggml_type_of(qtensor.dtype()), "{name}");
        let read = pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap();
        assert_eq!(read, *qtensor.data().unwrap(), "{name}");
    }
    // The formats Sculpt's kernels read are all covered.
    let formats: std::collections::HashSet<WeightFormat> = file
        .index
        .tensors()
        .iter()
        .filter_map(|info| info.encoding.weight_format())
        .collect();
    assert_eq!(formats.len(), WeightFormat::ALL.len());
}

#[test]
fn candle_reads_safetensors_files_sculpt_writes() {
    // candle does not read every safetensors dtype (not BOOL, I8, U16,
    // U64, F8_E5M2): the file holds the ones it does.
    let tensors: Vec<OwnedTensor> = safetensors_sample_tensors()
        .into_iter()
        .filter(|tensor| matches!(tensor.encoding, Encoding::Plain(dtype) if candle_dtype(dtype).is_some()))
        .collect();
    let bytes =
        sculpt_flux::formats::safetensors_bytes(&to_write(&tensors), &Default::default()).unwrap();
    let loaded = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
    let mut checked = 0;
    for tensor in &tensors {
        let Encoding::Plain(dtype) = tensor.encoding else {
            unreachable!("safetensors tensors are plain")
        };
        let candle_dtype = candle_dtype(dtype).unwrap();
        let theirs = &loaded[&tensor.name];
        assert_eq!(theirs.dtype(), candle_dtype, "{}", tensor.name);
        let shape: Vec<u64> = theirs.dims().iter().map(|&d| d as u64).collect();
        assert_eq!(shape, tensor.shape, "{}", tensor.name);
        assert_eq!(candle_bytes(theirs), tensor.bytes, "{}", tensor.name);
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} dtypes were compared");
}

#[test]
fn sculpt_reads_safetensors_files_candle_writes() {
    let device = Device::Cpu;
    let cases = [
        ("img_in.weight", DType::F32, vec![4, 6]),
        ("img_in.bias", DType::BF16, vec![4]),
        ("txt_in.weight", DType::F16, vec![3, 2, 2]),
        ("encoder.q.weight", DType::F8E4M3, vec![2, 3]),
        ("position_ids", DType::I64, vec![1, 7]),
        ("ids32", DType::I32, vec![5]),
        ("u8", DType::U8, vec![2, 2]),
        ("u32", DType::U32, vec![3]),
        ("f64", DType::F64, vec![2]),
    ];
    let tensors: HashMap<String, Tensor> = cases
        .iter()
        .enumerate()
        .map(|(seed, (name, dtype, shape))| {
            let count: usize = shape.iter().product();
            let mut raw = pseudo_random_bytes(seed as u64 + 7, count * dtype.size_in_bytes());
            if *dtype == DType::F8E4M3 {
                // Keep clear of E4M3's NaN patterns (S.1111.111).
                raw.iter_mut().for_each(|b| *b &= 0x7e);
            }
            let tensor = Tensor::from_raw_buffer(&raw, *dtype, shape, &device).unwrap();
            (name.to_string(), tensor)
        })
        .collect();
    let path = std::env::temp_dir().join(format!(
        "sculpt-formats-candle-{}.safetensors",
        std::process::id()
    ));
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let mut source =
        FileSource::new(std::fs::File::open(&path).unwrap(), "candle.safetensors").unwrap();
    let file = pollster::block_on(read_safetensors(&mut source)).unwrap();
    assert_eq!(file.index.len(), tensors.len());
    for (name, tensor) in &tensors {
        let info = file.index.get(name).unwrap();
        let Encoding::Plain(dtype) = info.encoding else {
            panic!("{name} is not plain")
        };
        assert_eq!(candle_dtype(dtype), Some(tensor.dtype()), "{name}");
        let shape: Vec<u64> = tensor.dims().iter().map(|&d| d as u64).collect();
        assert_eq!(info.shape, shape, "{name}");
        let read = pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap();
        assert_eq!(read, candle_bytes(tensor), "{name}");
    }
    drop(source);
    std::fs::remove_file(&path).unwrap();
}
