//! What is fuzzed, and what must hold for any input. A target's `check`
//! returns `Err` only when a property breaks (a parsed file whose tensors
//! read back at another length, an empty error message); an input the
//! parser refuses with a clear error is a pass. Panics, slowness and memory
//! are the driver's to catch.

use sculpt_flux::checkpoint::summarize;
use sculpt_flux::formats::{MemorySource, read_rows, read_tensor_bytes, read_weight_file};
use sculpt_flux::generation::Frame;
use sculpt_flux::pipeline::{GenerateRequest, ImageStart, InitImage, Manifest, ModelDefaults};
use sculpt_flux::text::{ClipTokenizer, T5Tokenizer};
use sculpt_web::protocol::ToEngine;

/// How inputs of a target are mutated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Bytes alone (GGUF, PNG).
    Binary,
    /// A JSON document (and, sometimes, its bytes).
    Json,
    /// safetensors: an 8-byte length, a JSON header, then data.
    Safetensors,
}

pub struct Target {
    pub name: &'static str,
    pub shape: Shape,
    pub check: fn(&[u8]) -> Result<(), String>,
}

/// Every target, in the order runs visit them.
pub const TARGETS: [Target; 6] = [
    Target {
        name: "safetensors",
        shape: Shape::Safetensors,
        check: weight_file,
    },
    Target {
        name: "gguf",
        shape: Shape::Binary,
        check: weight_file,
    },
    Target {
        name: "manifest",
        shape: Shape::Json,
        check: manifest,
    },
    Target {
        name: "tokenizer",
        shape: Shape::Json,
        check: tokenizer,
    },
    Target {
        name: "png",
        shape: Shape::Binary,
        check: png,
    },
    Target {
        name: "message",
        shape: Shape::Json,
        check: message,
    },
];

pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|target| target.name == name)
}

/// An error a user would read must say something.
fn said<E: std::fmt::Display>(error: E) -> Result<(), String> {
    let text = error.to_string();
    if text.trim().is_empty() {
        Err("an error with an empty message".into())
    } else {
        Ok(())
    }
}

/// Passes a result, or an error that says something.
fn refused_or_ok<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<(), String> {
    result.map_or_else(said, |_| Ok(()))
}

/// A weight file's header is read; if it parses, every tensor reads back
/// whole and by its first row at exactly the length the header declares,
/// and `sculpt inspect`'s summary (recognition included) is made.
fn weight_file(bytes: &[u8]) -> Result<(), String> {
    let mut source = MemorySource::new("fuzzed", bytes);
    let file = match pollster::block_on(read_weight_file(&mut source)) {
        Ok(file) => file,
        Err(error) => return said(error),
    };
    for info in file.index().tensors() {
        let whole = pollster::block_on(read_tensor_bytes(&mut source, info))
            .map_err(|e| format!("{} parsed but does not read back: {e}", info.name))?;
        if whole.len() as u64 != info.byte_len() {
            return Err(format!(
                "{} read back {} bytes, its header says {}",
                info.name,
                whole.len(),
                info.byte_len()
            ));
        }
        if info.rows() > 0 {
            let row = pollster::block_on(read_rows(&mut source, info, 0, 1))
                .map_err(|e| format!("{}'s first row does not read back: {e}", info.name))?;
            if row.len() as u64 != info.row_bytes() {
                return Err(format!("{}'s first row has the wrong length", info.name));
            }
        }
    }
    refused_or_ok(summarize("fuzzed", bytes.len() as u64, file.index()).map(|s| s.to_string()))
}

/// A model's manifest; if it parses, the defaults and family it names.
fn manifest(bytes: &[u8]) -> Result<(), String> {
    let manifest = match Manifest::from_json("manifest.json", bytes) {
        Ok(manifest) => manifest,
        Err(error) => return said(error),
    };
    let _ = ModelDefaults::of_manifest(&manifest);
    refused_or_ok(manifest.family())
}

/// A tokenizer.json read as CLIP's and as T5's; whichever loads tokenizes
/// a prompt with markup, emoji and control characters, and the empty one.
fn tokenizer(bytes: &[u8]) -> Result<(), String> {
    const PROMPT: &str = "a <b>red</b> circle 🎨\u{0}\u{202e} on a blue background, 3 × 4";
    match ClipTokenizer::from_json(bytes) {
        Ok(clip) => {
            for prompt in [PROMPT, ""] {
                if let Err(error) = clip.encode(prompt) {
                    said(error)?;
                }
            }
        }
        Err(error) => said(error)?,
    }
    match T5Tokenizer::from_json(bytes) {
        Ok(t5) => {
            for prompt in [PROMPT, ""] {
                if let Err(error) = t5.encode(prompt, 32) {
                    said(error)?;
                }
            }
            Ok(())
        }
        Err(error) => said(error),
    }
}

/// A PNG start image; if it reads, it starts a request of its size.
fn png(bytes: &[u8]) -> Result<(), String> {
    let frame = match Frame::from_png("start.png", bytes) {
        Ok(frame) => frame,
        Err(error) => return said(error),
    };
    if frame.rgba.len() != frame.width * frame.height * 4 {
        return Err(format!(
            "{} bytes for {} × {} pixels",
            frame.rgba.len(),
            frame.width,
            frame.height
        ));
    }
    let request = GenerateRequest {
        prompt: String::new(),
        width: frame.width,
        height: frame.height,
        steps: 4,
        seed: 1,
        guidance: None,
        cfg_scale: None,
        init_image: Some(InitImage {
            width: frame.width,
            height: frame.height,
            rgba: frame.rgba,
            start: ImageStart::Time(0.5),
        }),
    };
    refused_or_ok(request.validate())
}

/// A message a page sends the engine, as JSON (the page's objects arrive
/// as the same serde types); what it asks for is turned into a request
/// and checked, as the worker does before touching the model.
fn message(bytes: &[u8]) -> Result<(), String> {
    let message: ToEngine = match serde_json::from_slice(bytes) {
        Ok(message) => message,
        Err(error) => return said(error),
    };
    let request = match &message {
        ToEngine::Generate(settings) => settings.request(),
        ToEngine::StartRun(settings) => settings.request(),
        _ => return Ok(()),
    };
    match request {
        Ok(request) => refused_or_ok(request.validate()),
        Err(error) => said(error),
    }
}
