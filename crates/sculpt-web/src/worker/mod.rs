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

mod canvas;
mod canvas_2d;
mod engine;
mod generation;
mod library;
mod published;
mod run;

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use futures_channel::mpsc;
use futures_util::StreamExt;
use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent, OffscreenCanvas};

use crate::protocol::{EngineChoice, FromEngine, PageMessage, ShowLatent, ToEngine};
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
    let (sender, inbox) = mpsc::unbounded::<Result<PageMessage, String>>();
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
            match PageMessage::decode(event.data()) {
                Ok(PageMessage::Request(ToEngine::Cancel)) => controls.cancel.set(true),
                Ok(PageMessage::Request(ToEngine::Show { show })) => controls.show.set(show),
                Ok(PageMessage::Request(ToEngine::ResetGpu)) => {
                    if let Some(device) = controls.device.borrow().as_ref() {
                        device.destroy();
                    }
                }
                // The receiver lives as long as the worker.
                message => drop(sender.unbounded_send(message)),
            }
        })
    };
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    post(&scope, &FromEngine::Loaded);
    wasm_bindgen_futures::spawn_local(serve(scope, inbox, controls));
}

/// Handles messages one at a time, in order.
async fn serve(
    scope: DedicatedWorkerGlobalScope,
    mut inbox: mpsc::UnboundedReceiver<Result<PageMessage, String>>,
    controls: Rc<Controls>,
) {
    let mut engine: Option<Engine> = None;
    while let Some(message) = inbox.next().await {
        let reply = match message.map(Incoming::from) {
            Err(message) => FromEngine::Failed { message },
            Ok(Incoming::Attach {
                canvas,
                base,
                engine: choice,
            }) => match Engine::start(canvas, base, choice).await {
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

/// A page's message as the worker acts on it: the canvas that starts the
/// engine, or a request for the engine that runs.
enum Incoming {
    Attach {
        canvas: OffscreenCanvas,
        base: Option<String>,
        engine: EngineChoice,
    },
    Request(Request),
}

impl From<PageMessage> for Incoming {
    fn from(message: PageMessage) -> Self {
        match message {
            PageMessage::Attach {
                canvas,
                base,
                engine,
            } => Incoming::Attach {
                canvas,
                base,
                engine,
            },
            PageMessage::CheckFiles(files) => Incoming::Request(Request::CheckFiles(files)),
            PageMessage::Import { name, files } => {
                Incoming::Request(Request::Import { name, files })
            }
            PageMessage::Request(request) => Incoming::Request(Request::Message(request)),
        }
    }
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
