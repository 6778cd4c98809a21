//! The engine's side of [`crate::protocol`], running in a dedicated Web
//! Worker so that no GPU work, weight streaming or prompt encoding ever
//! blocks the page's thread.
//!
//! The worker owns the GPU and the page's canvas (transferred to it as an
//! `OffscreenCanvas`): frames are drawn into the canvas's texture by the
//! present shader and never read back to the CPU. Where the browser offers
//! no WebGPU adapter or device, the engine runs on the CPU instead (the
//! built-in model, frames put on the canvas with its 2d context) and says
//! so in `ready`.

mod built_in;
mod canvas;
mod canvas_2d;
mod engine;
mod generation;
mod library;
mod source;

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use futures_channel::mpsc;
use futures_util::StreamExt;
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{DedicatedWorkerGlobalScope, File, MessageEvent, OffscreenCanvas};

use crate::{
    import_source::ImportFiles,
    protocol::{FromEngine, ShowLatent, ToEngine},
};
use engine::{Engine, Request};

/// What a page can change while a generation runs: read between steps.
pub struct Controls {
    pub cancel: Cell<bool>,
    pub show: Cell<ShowLatent>,
    /// The engine's current device, for `ResetGpu` to destroy at once.
    pub device: RefCell<Option<wgpu::Device>>,
}

/// Entry point of the worker's wasm module.
pub fn start() {
    console_error_panic_hook::set_once();
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let (sender, inbox) = mpsc::unbounded::<JsValue>();
    let controls = Rc::new(Controls {
        cancel: Cell::new(false),
        show: Cell::new(ShowLatent::Current),
        device: RefCell::new(None),
    });
    let on_message = {
        let controls = Rc::clone(&controls);
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            // Cancel and Show act at once, even while a generation runs;
            // everything else waits its turn.
            match serde_wasm_bindgen::from_value::<ToEngine>(event.data()) {
                Ok(ToEngine::Cancel) => controls.cancel.set(true),
                Ok(ToEngine::Show { show }) => controls.show.set(show),
                Ok(ToEngine::ResetGpu) => {
                    if let Some(device) = controls.device.borrow().as_ref() {
                        device.destroy();
                    }
                }
                // The receiver lives as long as the worker.
                _ => drop(sender.unbounded_send(event.data())),
            }
        })
    };
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    post(&scope, &FromEngine::Loaded);
    wasm_bindgen_futures::spawn_local(serve(scope, inbox, controls));
}

enum Incoming {
    Attach(OffscreenCanvas),
    Request(Request),
}

/// Handles messages one at a time, in order.
async fn serve(
    scope: DedicatedWorkerGlobalScope,
    mut inbox: mpsc::UnboundedReceiver<JsValue>,
    controls: Rc<Controls>,
) {
    let mut engine: Option<Engine> = None;
    while let Some(message) = inbox.next().await {
        let reply = match decode(message) {
            Err(message) => FromEngine::Failed { message },
            Ok(Incoming::Attach(canvas)) => match Engine::start(canvas).await {
                Ok(started) => {
                    let reply = FromEngine::Ready {
                        device: started.device_rows(),
                        backend: started.backend(),
                    };
                    controls.device.replace(started.gpu_device());
                    engine = Some(started);
                    reply
                }
                Err(message) => FromEngine::Unavailable { message },
            },
            Ok(Incoming::Request(request)) => match &mut engine {
                Some(engine) => {
                    engine
                        .handle(request, &controls, &|update| post(&scope, &update))
                        .await
                }
                None => FromEngine::Failed {
                    message: "the engine has not started: it needs a canvas first".into(),
                },
            },
        };
        post(&scope, &reply);
    }
}

fn decode(message: JsValue) -> Result<Incoming, String> {
    let kind = Reflect::get(&message, &"type".into())
        .ok()
        .and_then(|kind| kind.as_string());
    match kind.as_deref() {
        Some("attach") => {
            let canvas = Reflect::get(&message, &"canvas".into())
                .ok()
                .and_then(|canvas| canvas.dyn_into::<OffscreenCanvas>().ok())
                .ok_or("an attach message needs an OffscreenCanvas in its canvas field")?;
            Ok(Incoming::Attach(canvas))
        }
        Some("check_files") => Ok(Incoming::Request(Request::CheckFiles(files(&message)?))),
        Some("import") => {
            let name = Reflect::get(&message, &"name".into())
                .ok()
                .and_then(|name| name.as_string())
                .ok_or("an import message needs the model's name in its name field")?;
            Ok(Incoming::Request(Request::Import {
                name,
                files: files(&message)?,
            }))
        }
        _ => serde_wasm_bindgen::from_value(message)
            .map(|message| Incoming::Request(Request::Message(message)))
            .map_err(|e| format!("the engine does not understand this message: {e}")),
    }
}

/// The `File` objects in a message's `files` array and the addresses in its
/// `urls` array (either may be absent).
fn files(message: &JsValue) -> Result<ImportFiles, String> {
    let array = |field: &str| -> Result<Vec<JsValue>, String> {
        let value = Reflect::get(message, &field.into()).unwrap_or(JsValue::UNDEFINED);
        if value.is_undefined() {
            return Ok(Vec::new());
        }
        if !js_sys::Array::is_array(&value) {
            return Err(format!(
                "the {field} field of this message must be an array"
            ));
        }
        Ok(js_sys::Array::from(&value).iter().collect())
    };
    let files = array("files")?
        .into_iter()
        .map(|file| {
            file.dyn_into::<File>()
                .map_err(|_| "every entry of files must be a File".to_string())
        })
        .collect::<Result<_, _>>()?;
    let urls = array("urls")?
        .into_iter()
        .map(|url| {
            url.as_string()
                .map(|url| url.trim().to_string())
                .ok_or_else(|| "every entry of urls must be a string".to_string())
        })
        .collect::<Result<_, _>>()?;
    Ok(ImportFiles { files, urls })
}

pub(crate) fn post(scope: &DedicatedWorkerGlobalScope, reply: &FromEngine) {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    match reply.serialize(&serializer) {
        Ok(value) => {
            if let Err(error) = scope.post_message(&value) {
                web_sys::console::error_2(&"sculpt engine: cannot post a reply".into(), &error);
            }
        }
        Err(error) => web_sys::console::error_1(&error.to_string().into()),
    }
}

use serde::Serialize as _;
