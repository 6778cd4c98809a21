//! Packs the built-in model's trained transformer (an f32 safetensors file in BFL names, written
//! by xtask/train/train.py) into the GGUF file Sculpt ships: every linear layer's matrix as Q8_0
//! blocks made by candle's quantizer (ggml's own Q8_0), and, as in city96's FLUX GGUFs, the
//! vectors and the small input/output layers (img_in, txt_in, time_in, vector_in, final_layer)
//! as F32. Run by `cargo xtask train-tiny`:
//!
//! `cargo run -p sculpt-flux --example pack_builtin -- target/train/flux.safetensors models/sculpt-tiny/transformer.gguf`

#[cfg(not(target_arch = "wasm32"))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use candle_core::{DType, Device, quantized::GgmlDType, quantized::QTensor};
    use sculpt_flux::formats::{Dtype, Encoding, MetadataValue, TensorToWrite, write_gguf};
    use sculpt_gpu::weights::WeightFormat;

    let mut args = std::env::args().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        return Err("usage: pack_builtin <flux.safetensors> <transformer.gguf>".into());
    };
    let tensors = candle_core::safetensors::load(&input, &Device::Cpu)?;
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    const KEEP_F32: [&str; 5] = [
        "img_in.",
        "txt_in.",
        "time_in.",
        "vector_in.",
        "final_layer.",
    ];
    let mut packed = Vec::new();
    let (mut quantized, mut kept) = (0usize, 0usize);
    for name in names {
        let tensor = tensors[name].to_dtype(DType::F32)?;
        let shape: Vec<u64> = tensor.dims().iter().map(|&d| d as u64).collect();
        let q8 = tensor.rank() == 2
            && tensor.dims()[1] % 32 == 0
            && !KEEP_F32.iter().any(|prefix| name.starts_with(prefix));
        let (encoding, bytes) = if q8 {
            quantized += tensor.elem_count();
            let q = QTensor::quantize(&tensor, GgmlDType::Q8_0)?;
            (
                Encoding::Quantized(WeightFormat::Q8_0),
                q.data()?.into_owned(),
            )
        } else {
            kept += tensor.elem_count();
            let values = tensor.flatten_all()?.to_vec1::<f32>()?;
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (Encoding::Plain(Dtype::F32), bytes)
        };
        packed.push((name.clone(), shape, encoding, bytes));
    }
    let to_write: Vec<TensorToWrite> = packed
        .iter()
        .map(|(name, shape, encoding, bytes)| TensorToWrite {
            name,
            shape,
            encoding: *encoding,
            bytes,
        })
        .collect();
    let arch = MetadataValue::String("flux".into());
    let model = MetadataValue::String("sculpt-tiny".into());
    let mut file = std::io::BufWriter::new(std::fs::File::create(&output)?);
    write_gguf(
        &mut file,
        &[("general.architecture", &arch), ("general.name", &model)],
        &to_write,
    )?;
    println!("{output}: {quantized} values as Q8_0, {kept} as F32");
    Ok(())
}

#[cfg(target_arch = "wasm32")]
fn main() {}
