//! The engine's side of [`crate::protocol`], running in a dedicated Web
//! Worker so that no GPU work, weight streaming or prompt encoding ever
//! blocks the page's thread.
//!
//! The worker owns the GPU and the page's canvas (transferred to it as an
//! `OffscreenCanvas`): frames are drawn into the canvas's texture by the
//! present shader and never read back to the CPU.

mod canvas;
mod engine;

use futures_channel::mpsc;
use futures_util::StreamExt;
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent, OffscreenCanvas};

use crate::protocol::{FromEngine, ToEngine};
use engine::Engine;

/// Entry point of the worker's wasm module.
pub fn start() {
    console_error_panic_hook::set_once();
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let (sender, inbox) = mpsc::unbounded::<JsValue>();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        // The receiver lives as long as the worker.
        let _ = sender.unbounded_send(event.data());
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    post(&scope, &FromEngine::Loaded);
    wasm_bindgen_futures::spawn_local(serve(scope, inbox));
}

enum Incoming {
    Attach(OffscreenCanvas),
    Request(ToEngine),
}

/// Handles messages one at a time, in order.
async fn serve(scope: DedicatedWorkerGlobalScope, mut inbox: mpsc::UnboundedReceiver<JsValue>) {
    let mut engine: Option<Engine> = None;
    while let Some(message) = inbox.next().await {
        let reply = match decode(message) {
            Err(message) => FromEngine::Failed { message },
            Ok(Incoming::Attach(canvas)) => match Engine::start(canvas).await {
                Ok(started) => {
                    let device = started.device_rows();
                    engine = Some(started);
                    FromEngine::Ready { device }
                }
                Err(message) => FromEngine::Unavailable { message },
            },
            Ok(Incoming::Request(request)) => match &mut engine {
                Some(engine) => engine.handle(request).await,
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
    if kind.as_deref() == Some("attach") {
        let canvas = Reflect::get(&message, &"canvas".into())
            .ok()
            .and_then(|canvas| canvas.dyn_into::<OffscreenCanvas>().ok())
            .ok_or("an attach message needs an OffscreenCanvas in its canvas field")?;
        return Ok(Incoming::Attach(canvas));
    }
    serde_wasm_bindgen::from_value(message)
        .map(Incoming::Request)
        .map_err(|e| format!("the engine does not understand this message: {e}"))
}

fn post(scope: &DedicatedWorkerGlobalScope, reply: &FromEngine) {
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
