//! Recognizing checkpoints from their headers: role, naming, variant and
//! configuration from tensor names and shapes, and the refusal of files that
//! are not, or not quite, a model Sculpt runs.
//!
//! Native only: the tests write files and drive the async readers with
//! `pollster`.
#![cfg(not(target_arch = "wasm32"))]

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use sculpt_flux::checkpoint::{
    CheckpointProblem, ExpectedTensor, ModelConfig, Naming, Recognition, Role, autoencoder_layout,
    clip_layout, detect, diffusers_autoencoder_layout, diffusers_flux_layout, flux_layout, inspect,
    recognize, t5_layout,
};
use sculpt_flux::formats::{
    ByteSource, FileSource, MemorySource, f32_safetensors_bytes, read_safetensors,
};
use sculpt_flux::models::autoencoder::AutoEncoderConfig;
use sculpt_flux::models::clip::ClipTextConfig;
use sculpt_flux::models::flux1::FluxConfig;
use sculpt_flux::models::t5::T5Config;

/// A safetensors file of zeros in F32 with these tensors.
fn zeros_file(name: &str, tensors: &[(String, Vec<usize>)]) -> MemorySource<Vec<u8>> {
    let zeros: Vec<Vec<f32>> = tensors
        .iter()
        .map(|(_, shape)| vec![0.0; shape.iter().product()])
        .collect();
    let stored = tensors
        .iter()
        .zip(&zeros)
        .map(|((name, shape), values)| (name.as_str(), shape.as_slice(), values.as_slice()));
    MemorySource::new(name, f32_safetensors_bytes(stored).unwrap())
}

fn required(layout: Vec<ExpectedTensor>) -> Vec<(String, Vec<usize>)> {
    layout
        .into_iter()
        .filter(|tensor| !tensor.optional)
        .map(|tensor| (tensor.name, tensor.shape))
        .collect()
}

fn detect_in(
    file: &str,
    tensors: &[(String, Vec<usize>)],
) -> Result<sculpt_flux::checkpoint::Checkpoint, sculpt_flux::checkpoint::CheckpointError> {
    let mut source = zeros_file(file, tensors);
    let read = pollster::block_on(read_safetensors(&mut source)).unwrap();
    detect(file, &read.index)
}

/// The tiny transformer with FLUX's rotary proportions, which are not in the
/// weights (tiny's own are [16, 24, 24]).
fn tiny_flux(guidance_embed: bool) -> FluxConfig {
    FluxConfig {
        axes_dim: vec![8, 28, 28],
        ..FluxConfig::tiny(guidance_embed)
    }
}

#[test]
fn each_role_and_its_configuration_is_recognized() {
    for guidance in [false, true] {
        let config = tiny_flux(guidance);
        let bfl = detect_in("bfl.safetensors", &required(flux_layout(&config))).unwrap();
        assert_eq!(bfl.naming, Naming::Bfl);
        assert_eq!(bfl.config, ModelConfig::Transformer(config.clone()));
        let kind = if guidance { "dev" } else { "schnell" };
        assert!(bfl.variant().starts_with(kind), "{}", bfl.variant());
        let diffusers = detect_in(
            "diffusers.safetensors",
            &required(diffusers_flux_layout(&config)),
        )
        .unwrap();
        assert_eq!(diffusers.naming, Naming::Diffusers);
        assert_eq!(diffusers.config, ModelConfig::Transformer(config));
    }

    let ae = AutoEncoderConfig::tiny();
    let found = detect_in("ae.safetensors", &required(autoencoder_layout(&ae))).unwrap();
    assert_eq!(found.config, ModelConfig::Autoencoder(ae.clone()));
    assert_eq!(found.naming, Naming::Bfl);
    let vae = required(diffusers_autoencoder_layout(&ae));
    assert!(
        vae.iter()
            .any(|(name, _)| name == "decoder.up_blocks.0.upsamplers.0.conv.weight")
    );
    let found = detect_in("vae.safetensors", &vae).unwrap();
    assert_eq!(found.config, ModelConfig::Autoencoder(ae));
    assert_eq!(found.naming, Naming::Diffusers);

    // CLIP's head count is not in the weights: heads are 64 wide.
    let clip = ClipTextConfig {
        num_heads: 1,
        ..ClipTextConfig::tiny()
    };
    let found = detect_in("clip.safetensors", &required(clip_layout(&clip))).unwrap();
    assert_eq!(found.config, ModelConfig::Clip(clip));

    let t5 = T5Config::tiny();
    let mut tensors = required(t5_layout(&t5));
    tensors.push(("shared.weight".into(), vec![t5.vocab_size, t5.d_model]));
    let found = detect_in("t5.safetensors", &tensors).unwrap();
    assert_eq!(found.config, ModelConfig::T5(t5));
    assert_eq!(found.role(), Role::T5);
}

#[test]
fn unknown_and_mismatched_files_name_the_file_and_the_first_offending_tensor() {
    let unknown = detect_in(
        "notes.safetensors",
        &[("lm_head.weight".to_string(), vec![4, 4])],
    )
    .unwrap_err();
    assert!(matches!(
        unknown.problem,
        CheckpointProblem::UnknownModel { .. }
    ));
    let message = unknown.to_string();
    assert!(message.starts_with("notes.safetensors: "), "{message}");
    assert!(message.contains("'lm_head.weight'"), "{message}");

    let config = tiny_flux(false);
    let good = required(flux_layout(&config));

    let mut extra = good.clone();
    extra.push((
        "double_blocks.0.img_attn.lora_down.weight".into(),
        vec![4, 128],
    ));
    let error = detect_in("extra.safetensors", &extra).unwrap_err();
    assert!(
        matches!(&error.problem, CheckpointProblem::Unexpected { tensor, .. }
            if tensor == "double_blocks.0.img_attn.lora_down.weight"),
        "{error}"
    );
    assert!(
        error.to_string().starts_with("extra.safetensors: "),
        "{error}"
    );

    let mut misshaped = good.clone();
    let qkv = misshaped
        .iter_mut()
        .find(|(name, _)| name == "single_blocks.1.linear2.weight")
        .unwrap();
    qkv.1 = vec![128, 100];
    let error = detect_in("misshaped.safetensors", &misshaped).unwrap_err();
    assert!(
        matches!(&error.problem, CheckpointProblem::Shape { tensor, found, .. }
            if tensor == "single_blocks.1.linear2.weight" && found == &[128, 100]),
        "{error}"
    );

    let missing: Vec<_> = good
        .iter()
        .filter(|(name, _)| name != "double_blocks.1.txt_mlp.2.bias")
        .cloned()
        .collect();
    let error = detect_in("missing.safetensors", &missing).unwrap_err();
    assert!(
        matches!(&error.problem, CheckpointProblem::Missing { tensor, .. }
            if tensor == "double_blocks.1.txt_mlp.2.bias"),
        "{error}"
    );
}

/// The header of a GGUF v3 file holding `tensors` (name, shape outermost
/// first, ggml type) at 32-byte alignment, written by hand from the format's
/// specification; returns it and the data section's length.
fn gguf_header(tensors: &[(String, Vec<u64>, u32)]) -> (Vec<u8>, u64) {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&1u64.to_le_bytes());
    string(&mut out, "general.architecture");
    out.extend_from_slice(&8u32.to_le_bytes()); // string
    string(&mut out, "flux");
    let mut offset = 0u64;
    for (name, shape, ggml_type) in tensors {
        string(&mut out, name);
        out.extend_from_slice(&(shape.len() as u32).to_le_bytes());
        for dim in shape.iter().rev() {
            out.extend_from_slice(&dim.to_le_bytes());
        }
        out.extend_from_slice(&ggml_type.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        let count: u64 = shape.iter().product();
        let bytes = match ggml_type {
            0 => 4 * count,
            2 => count / 32 * 18, // Q4_0: an f16 scale and 16 bytes of nibbles per 32
            other => panic!("type {other}"),
        };
        offset = (offset + bytes).next_multiple_of(32);
    }
    out.resize(out.len().next_multiple_of(32), 0);
    (out, offset)
}

/// A source that records how far into the file it was read.
struct Watched {
    inner: FileSource,
    furthest: u64,
}

impl ByteSource for Watched {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }

    async fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.furthest = self.furthest.max(offset + buf.len() as u64);
        self.inner.read_at(offset, buf).await
    }
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn the_full_schnell_q4_0_header_is_recognized_from_its_header_alone() {
    // city96's layout: Q4_0 matrices, F32 for 1-D tensors and for the input
    // embedders and final layer.
    let kept_f32 = [
        "img_in",
        "txt_in",
        "time_in",
        "vector_in",
        "guidance_in",
        "final_layer",
    ];
    let tensors: Vec<(String, Vec<u64>, u32)> = flux_layout(&FluxConfig::schnell())
        .into_iter()
        .map(|tensor| {
            let quantized =
                tensor.shape.len() == 2 && !kept_f32.iter().any(|p| tensor.name.starts_with(p));
            let shape = tensor.shape.iter().map(|&d| d as u64).collect();
            (tensor.name, shape, if quantized { 2 } else { 0 })
        })
        .collect();
    let (header, data_len) = gguf_header(&tensors);
    let path = std::env::temp_dir().join(format!("sculpt-schnell-{}.gguf", std::process::id()));
    let _cleanup = TempFile(path.clone());
    let mut file = File::create(&path).unwrap();
    file.write_all(&header).unwrap();
    // A sparse data region: nothing is written, the file is only extended.
    file.set_len(header.len() as u64 + data_len).unwrap();
    drop(file);

    let mut source = Watched {
        inner: FileSource::new(File::open(&path).unwrap(), "flux1-schnell-Q4_0.gguf").unwrap(),
        furthest: 0,
    };
    let summary = pollster::block_on(inspect(&mut source)).unwrap();
    assert_eq!(summary.role(), Role::Transformer);
    assert_eq!(summary.checkpoint().unwrap().naming, Naming::Bfl);
    assert_eq!(
        summary.checkpoint().unwrap().config,
        ModelConfig::Transformer(FluxConfig::schnell())
    );
    assert!(
        summary
            .checkpoint()
            .unwrap()
            .variant()
            .starts_with("schnell")
    );
    assert_eq!(summary.tensors, 776);
    assert_eq!(summary.parameters, 11_891_178_560);
    // Worked out apart from the code (Python, from the same rule): 6.41 GiB.
    assert_eq!(summary.tensor_bytes, 6_884_552_960);
    // 5 matrices per stream of 19 double blocks, 3 per single block of 38.
    assert_eq!(summary.encodings["Q4_0"].tensors, 19 * 2 * 5 + 38 * 3);
    // The GGUF reader reads the header through a 1 MiB window; of the
    // 6.9 GB of data, nothing past that window is touched.
    let window = 1 << 20;
    assert!(
        source.furthest <= (header.len() as u64).max(window),
        "read up to byte {} of a {}-byte header",
        source.furthest,
        header.len()
    );
    let text = summary.to_string();
    assert!(text.contains("11,891,178,560"), "{text}");

    // On the GPU each 18-byte Q4_0 block is repacked into 5 whole words
    // (20 bytes); the F32 tensors keep 4 bytes a value. Worked out apart
    // from the code (Python): 7,624,192,256 bytes.
    assert_eq!(summary.gpu_bytes, 7_624_192_256);
    assert!(text.contains("on the GPU: 7,624,192,256"), "{text}");
}

/// What the shapes tell, short of a configuration Sculpt runs: a T5 with
/// 8-wide heads is recognized, checked and runnable; one with heads wider
/// than the attention kernel takes is recognized and checked but cannot
/// run; a transformer with 16-wide heads is recognized but its rotary split
/// cannot be inferred. `detect`, which the pipelines use, refuses the
/// latter two, and a mis-shaped tensor is an error either way.
#[test]
fn files_sculpt_cannot_run_are_still_recognized() {
    let read = |name: &str, tensors: &[(String, Vec<usize>)]| {
        let mut source = zeros_file(name, tensors);
        pollster::block_on(read_safetensors(&mut source))
            .unwrap()
            .index
    };
    let with_embedding = |config: &T5Config| {
        let mut t5 = required(t5_layout(config));
        t5.push((
            "shared.weight".into(),
            vec![config.vocab_size, config.d_model],
        ));
        t5
    };
    let narrow = T5Config {
        d_kv: 8,
        num_heads: 2,
        ..T5Config::tiny()
    };
    let index = read("t5.safetensors", &with_embedding(&narrow));
    let Recognition::Checked(checkpoint) = recognize("t5.safetensors", &index).unwrap() else {
        panic!("a T5 with 8-wide heads is not recognized as runnable");
    };
    assert_eq!(checkpoint.config, ModelConfig::T5(narrow.clone()));
    assert!(detect("t5.safetensors", &index).is_ok());

    let wide = T5Config {
        d_kv: 4096,
        num_heads: 1,
        ..T5Config::tiny()
    };
    let index = read("t5.safetensors", &with_embedding(&wide));
    let Recognition::CannotRun { checkpoint, why } = recognize("t5.safetensors", &index).unwrap()
    else {
        panic!("not recognized as a T5 the kernels cannot run");
    };
    assert_eq!(checkpoint.config, ModelConfig::T5(wide));
    assert!(why.contains("1 to 2048 wide"), "{why}");
    let error = detect("t5.safetensors", &index).unwrap_err();
    assert!(error.to_string().contains("1 to 2048 wide"), "{error}");
    let t5 = with_embedding(&narrow);
    let mut bent = t5.clone();
    let norm = bent
        .iter_mut()
        .find(|(name, _)| name == "encoder.final_layer_norm.weight")
        .unwrap();
    norm.1[0] += 1;
    let error = recognize("t5.safetensors", &read("t5.safetensors", &bent)).unwrap_err();
    assert!(
        matches!(error.problem, CheckpointProblem::Shape { .. }),
        "{error}"
    );

    let sixteen = FluxConfig {
        hidden_size: 64,
        num_heads: 4,
        ..FluxConfig::tiny(false)
    };
    let index = read("dit.safetensors", &required(flux_layout(&sixteen)));
    assert_eq!(
        recognize("dit.safetensors", &index).unwrap(),
        Recognition::NotInferred {
            role: Role::Transformer,
            naming: Naming::Bfl,
            why: "its heads are 16 wide, which FLUX's rotary split (1/8, 7/16, 7/16 of a head, \
                  in pairs) does not divide; give its configuration instead"
                .into(),
        }
    );
    assert!(detect("dit.safetensors", &index).is_err());
}
