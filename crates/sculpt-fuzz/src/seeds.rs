//! The seed corpus: small valid inputs of every target, written by Sculpt's
//! own writers (`sculpt-fuzz --write-seeds` regenerates the `seed-*` files
//! under `corpus/`), and reading a target's corpus back. The tokenizer
//! seeds are cut-down copies of the built-in model's, and every input a
//! run ever found failing is kept beside the seeds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sculpt_flux::checkpoint::clip_layout;
use sculpt_flux::formats::{
    Dtype, Encoding, MetadataArray, MetadataValue, TensorToWrite, gguf_bytes, safetensors_bytes,
};
use sculpt_flux::generation::Frame;
use sculpt_flux::models::clip::ClipTextConfig;
use sculpt_gpu::weights::WeightFormat;
use serde_json::json;

/// `corpus/` of this crate.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// Every file of `target`'s corpus, in name order.
pub fn corpus(target: &str) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let dir = corpus_dir().join(target);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    names.sort();
    names
        .into_iter()
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            std::fs::read(&path).map(|bytes| (name, bytes))
        })
        .collect()
}

/// The generated seeds: (target, file name, bytes).
pub fn generated() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let mut add =
        |target, name: &str, bytes: Vec<u8>| seeds.push((target, name.to_string(), bytes));

    // A CLIP text model small enough to mutate quickly, whose shapes the
    // checkpoint detection recognizes (8-wide heads).
    let clip = ClipTextConfig {
        vocab_size: 16,
        hidden_size: 8,
        intermediate_size: 16,
        num_heads: 1,
        num_layers: 1,
        max_positions: 8,
    };
    let layout = clip_layout(&clip);
    let values: Vec<Vec<f32>> = layout
        .iter()
        .map(|t| vec![0.25; t.shape.iter().product()])
        .collect();
    let tensors: Vec<(&str, &[usize], &[f32])> = layout
        .iter()
        .zip(&values)
        .map(|(t, v)| (t.name.as_str(), t.shape.as_slice(), v.as_slice()))
        .collect();
    add(
        "safetensors",
        "seed-clip.safetensors",
        sculpt_flux::formats::f32_safetensors_bytes(tensors).expect("a valid file"),
    );
    let half = [0u8, 60, 0, 60, 0, 188, 0, 0];
    let longs = 7i64.to_le_bytes().repeat(2);
    let mut metadata = BTreeMap::new();
    metadata.insert("format".to_string(), "pt".to_string());
    add(
        "safetensors",
        "seed-dtypes.safetensors",
        safetensors_bytes(
            &[
                TensorToWrite {
                    name: "half",
                    shape: &[2, 2],
                    encoding: Encoding::Plain(Dtype::F16),
                    bytes: &half,
                },
                TensorToWrite {
                    name: "brain",
                    shape: &[4],
                    encoding: Encoding::Plain(Dtype::BF16),
                    bytes: &half,
                },
                TensorToWrite {
                    name: "ids",
                    shape: &[2],
                    encoding: Encoding::Plain(Dtype::I64),
                    bytes: &longs,
                },
            ],
            &metadata,
        )
        .expect("a valid file"),
    );

    // Q8_0: one block of 32 values (a scale, 32 bytes); Q4_0: a scale, 16 bytes.
    let mut q8 = vec![0u8, 60];
    q8.extend((0..32).map(|i| i as u8));
    let mut q4 = vec![0u8, 60];
    q4.extend((0..16).map(|i| (i * 17) as u8));
    let floats: Vec<u8> = [1.0f32, -2.0, 0.5, 3.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let name = MetadataValue::String("sculpt fuzz seed".into());
    let alignment = MetadataValue::U32(32);
    let shape = MetadataValue::Array(MetadataArray::U32(vec![1, 2, 3]));
    add(
        "gguf",
        "seed-blocks.gguf",
        gguf_bytes(
            &[
                ("general.name", &name),
                ("general.alignment", &alignment),
                ("test.shape", &shape),
            ],
            &[
                TensorToWrite {
                    name: "q8.weight",
                    shape: &[1, 32],
                    encoding: Encoding::Quantized(WeightFormat::Q8_0),
                    bytes: &q8,
                },
                TensorToWrite {
                    name: "q4.weight",
                    shape: &[1, 32],
                    encoding: Encoding::Quantized(WeightFormat::Q4_0),
                    bytes: &q4,
                },
                TensorToWrite {
                    name: "plain.bias",
                    shape: &[4],
                    encoding: Encoding::Plain(Dtype::F32),
                    bytes: &floats,
                },
            ],
        )
        .expect("a valid file"),
    );

    add(
        "manifest",
        "seed-sculpt-tiny.json",
        include_bytes!("../../../models/sculpt-tiny/manifest.json").to_vec(),
    );

    let frame = Frame {
        width: 16,
        height: 16,
        rgba: (0..16 * 16 * 4).map(|i| (i * 7 % 256) as u8).collect(),
    };
    let text = [
        ("prompt", "a <b>red</b> circle".to_string()),
        ("seed", "7".to_string()),
    ];
    add("png", "seed-16.png", frame.to_png(&text).expect("a PNG"));
    let pixel = Frame {
        width: 1,
        height: 1,
        rgba: vec![1, 2, 3, 4],
    };
    add("png", "seed-1.png", pixel.to_png(&[]).expect("a PNG"));

    let settings = json!({
        "model": "sculpt-tiny", "prompt": "a red circle", "width": 64, "height": 64,
        "steps": 4, "seed": 7, "show": "current", "preview": "fast"
    });
    let mut from_image = settings.clone();
    from_image["image"] = json!({"width": 16, "height": 16, "rgba": vec![0u8; 16 * 16 * 4]});
    from_image["width"] = json!(16);
    from_image["height"] = json!(16);
    from_image["t"] = json!(0.6);
    let mut run = settings.clone();
    run["history"] = json!(8);
    run["frames"] = json!(["current", "predicted_clean"]);
    run["latents"] = json!(true);
    run["cfg_scale"] = json!(2.0);
    for (name, mut message) in [
        ("generate", settings.clone()),
        ("generate-from-image", from_image),
        ("start-run", run),
    ] {
        message["type"] = json!(if name == "start-run" {
            "start_run"
        } else {
            "generate"
        });
        add(
            "message",
            &format!("seed-{name}.json"),
            message.to_string().into_bytes(),
        );
    }
    for message in [
        json!({"type": "draw_run", "step": 3, "show": "velocity"}),
        json!({"type": "noise_run", "t": 0.25}),
        json!({"type": "delete_model", "name": "my <model>"}),
        json!({"type": "self_test", "phase": 3}),
    ] {
        let name = message["type"].as_str().unwrap().replace('_', "-");
        add(
            "message",
            &format!("seed-{name}.json"),
            message.to_string().into_bytes(),
        );
    }
    seeds
}

/// Writes the generated seeds into `corpus/<target>/`.
pub fn write(dir: &Path) -> std::io::Result<usize> {
    let seeds = generated();
    for (target, name, bytes) in &seeds {
        let folder = dir.join(target);
        std::fs::create_dir_all(&folder)?;
        std::fs::write(folder.join(name), bytes)?;
    }
    Ok(seeds.len())
}
