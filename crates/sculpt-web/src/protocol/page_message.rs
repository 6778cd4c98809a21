//! Every message a page sends the engine, decoded and encoded in one place:
//! the [`ToEngine`] requests, and the three that carry browser objects,
//! which cross to the worker as they are rather than as data (the
//! `OffscreenCanvas` the engine draws into, the user's `File`s).
//!
//! On the wire those three are plain objects too: `{ type: "attach",
//! canvas, base? }`, `{ type: "check_files", files, urls }` and `{ type: "import",
//! name, files, urls }`. Their object fields travel untouched
//! (serde-wasm-bindgen's `preserve`) and are checked here, each with an
//! error that names the field.

use js_sys::Array;
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{File, OffscreenCanvas};

use super::{EngineChoice, ToEngine};
use crate::sources::ImportFiles;

/// A message from a page, typed.
pub enum PageMessage {
    /// Hands the engine the canvas it draws every frame into; sent once the
    /// engine says [`super::FromEngine::Loaded`] (a message sent to a worker
    /// before its wasm module has loaded would be lost). The canvas must be
    /// transferred with the message ([`PageMessage::transfer`]).
    ///
    /// `base` is the address the engine's own files (the built-in model)
    /// are fetched relative to; absent, the worker's own address. A page
    /// that starts the engine from a `blob:` worker (the widget, embedded
    /// in another site) names where its files are.
    Attach {
        canvas: OffscreenCanvas,
        base: Option<String>,
        /// Which engine to start (`engine`: `"auto"` when absent).
        engine: EngineChoice,
    },
    /// Reads the files' headers, sorts them into the model's parts and plans
    /// the device's memory, answering [`super::FromEngine::FilesChecked`]
    /// (nothing is stored).
    CheckFiles(ImportFiles),
    /// Stores the files in IndexedDB as model `name`, answering
    /// [`super::FromEngine::Importing`] updates and then
    /// [`super::FromEngine::Imported`].
    Import {
        name: String,
        files: ImportFiles,
    },
    Request(ToEngine),
}

/// The wire form of the messages that carry objects: the type, and every
/// field any of them has, kept as the JavaScript values they are.
#[derive(Default, Serialize, Deserialize)]
struct Carrier {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    #[serde(skip_serializing_if = "JsValue::is_undefined")]
    canvas: JsValue,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    #[serde(skip_serializing_if = "JsValue::is_undefined")]
    name: JsValue,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    #[serde(skip_serializing_if = "JsValue::is_undefined")]
    files: JsValue,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    #[serde(skip_serializing_if = "JsValue::is_undefined")]
    urls: JsValue,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    #[serde(skip_serializing_if = "JsValue::is_undefined")]
    base: JsValue,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    #[serde(skip_serializing_if = "JsValue::is_undefined")]
    engine: JsValue,
}

impl PageMessage {
    /// The message as the engine's worker receives it.
    pub fn encode(&self) -> Result<JsValue, String> {
        let carrier = match self {
            PageMessage::Request(request) => {
                return serde_wasm_bindgen::to_value(request)
                    .map_err(|e| format!("cannot encode a request for the engine: {e}"));
            }
            PageMessage::Attach {
                canvas,
                base,
                engine,
            } => Carrier {
                kind: "attach".into(),
                canvas: canvas.clone().into(),
                base: base
                    .as_deref()
                    .map_or(JsValue::UNDEFINED, JsValue::from_str),
                engine: JsValue::from_str(engine.name()),
                ..Carrier::default()
            },
            PageMessage::CheckFiles(files) => Carrier {
                kind: "check_files".into(),
                ..Carrier::with_files(files)
            },
            PageMessage::Import { name, files } => Carrier {
                kind: "import".into(),
                name: JsValue::from_str(name),
                ..Carrier::with_files(files)
            },
        };
        serde_wasm_bindgen::to_value(&carrier)
            .map_err(|e| format!("cannot encode a message for the engine: {e}"))
    }

    /// What `postMessage` must transfer rather than copy with this message.
    pub fn transfer(&self) -> Array {
        match self {
            PageMessage::Attach { canvas, .. } => Array::of1(canvas),
            _ => Array::new(),
        }
    }

    /// Reads a message a page sent; a bad one gets an error naming what is
    /// wrong with it.
    pub fn decode(message: JsValue) -> Result<Self, String> {
        let carrier = serde_wasm_bindgen::from_value::<Carrier>(message.clone()).ok();
        match carrier {
            Some(carrier) if carrier.kind == "attach" => {
                let base = match carrier.base {
                    base if base.is_undefined() || base.is_null() => None,
                    base => Some(base.as_string().ok_or(
                        "the base field of an attach message must be an address (a string)",
                    )?),
                };
                let engine = match carrier.engine {
                    engine if engine.is_undefined() || engine.is_null() => EngineChoice::Auto,
                    engine => engine
                        .as_string()
                        .and_then(|name| EngineChoice::from_name(&name))
                        .ok_or_else(|| {
                            format!(
                                "the engine field of an attach message must be \"auto\", \
                                 \"webgpu\" or \"cpu\", not {engine:?}"
                            )
                        })?,
                };
                let canvas = carrier.canvas.dyn_into::<OffscreenCanvas>().map_err(
                    |_| "an attach message needs an OffscreenCanvas in its canvas field",
                )?;
                Ok(PageMessage::Attach {
                    canvas,
                    base,
                    engine,
                })
            }
            Some(carrier) if carrier.kind == "check_files" => {
                Ok(PageMessage::CheckFiles(carrier.import_files()?))
            }
            Some(carrier) if carrier.kind == "import" => {
                let name = carrier
                    .name
                    .as_string()
                    .ok_or("an import message needs the model's name in its name field")?;
                Ok(PageMessage::Import {
                    name,
                    files: carrier.import_files()?,
                })
            }
            _ => serde_wasm_bindgen::from_value(message)
                .map(PageMessage::Request)
                .map_err(|e| format!("the engine does not understand this message: {e}")),
        }
    }
}

impl Carrier {
    fn with_files(files: &ImportFiles) -> Self {
        let urls: Array = files
            .urls
            .iter()
            .map(|url| JsValue::from_str(url))
            .collect();
        Carrier {
            files: files.files.iter().collect::<Array>().into(),
            urls: urls.into(),
            ..Carrier::default()
        }
    }

    /// The `File` objects in `files` and the addresses in `urls` (either may
    /// be absent).
    fn import_files(&self) -> Result<ImportFiles, String> {
        let files = entries(&self.files, "files")?
            .into_iter()
            .map(|file| {
                file.dyn_into::<File>()
                    .map_err(|_| "every entry of files must be a File".to_string())
            })
            .collect::<Result<_, _>>()?;
        let urls = entries(&self.urls, "urls")?
            .into_iter()
            .map(|url| {
                url.as_string()
                    .map(|url| url.trim().to_string())
                    .ok_or_else(|| "every entry of urls must be a string".to_string())
            })
            .collect::<Result<_, _>>()?;
        Ok(ImportFiles { files, urls })
    }
}

/// The entries of an array field; none where the field is absent.
fn entries(value: &JsValue, field: &str) -> Result<Vec<JsValue>, String> {
    if value.is_undefined() {
        return Ok(Vec::new());
    }
    if !Array::is_array(value) {
        return Err(format!(
            "the {field} field of this message must be an array"
        ));
    }
    Ok(Array::from(value).iter().collect())
}
