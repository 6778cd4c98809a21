//! A surface's handle on the engine: starts the worker, hands it the
//! canvas, sends [`PageMessage`]s and delivers [`FromEngine`] replies. Any
//! Rust surface (the generator page and its visualizer) starts
//! its own; it knows nothing of the page that holds it.

use std::{cell::RefCell, rc::Rc};

use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{ErrorEvent, HtmlCanvasElement, MessageEvent, Worker};

use crate::protocol::{EngineChoice, FromEngine, PageMessage};

/// The worker script trunk writes next to index.html for the
/// `sculpt-worker` binary (`data-loader-shim`).
const WORKER_SCRIPT: &str = "./sculpt-worker_loader.js";

pub struct EngineClient {
    worker: Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl EngineClient {
    /// Starts the engine `engine` names and gives it `canvas` to draw on
    /// (from now on only the engine draws there). Every reply, and a failure
    /// to load the engine at all, reaches `on_reply`.
    pub fn start(
        canvas: &HtmlCanvasElement,
        engine: EngineChoice,
        on_reply: impl Fn(FromEngine) + 'static,
    ) -> Result<Self, String> {
        let worker = Worker::new(WORKER_SCRIPT)
            .map_err(|_| "the browser cannot start the engine's worker")?;
        let offscreen = canvas
            .transfer_control_to_offscreen()
            .map_err(|_| "this browser cannot hand the canvas to the engine (OffscreenCanvas)")?;
        let on_reply = Rc::new(on_reply);

        let on_message = {
            let on_reply = Rc::clone(&on_reply);
            let worker = worker.clone();
            let offscreen = RefCell::new(Some(offscreen));
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let reply = serde_wasm_bindgen::from_value(event.data()).unwrap_or_else(|e| {
                    FromEngine::Failed {
                        message: format!(
                            "the engine sent a message the page does not understand: {e}"
                        ),
                    }
                });
                match reply {
                    FromEngine::Loaded => {
                        let attach = |canvas| PageMessage::Attach {
                            canvas,
                            base: None,
                            engine,
                        };
                        if let Some(canvas) = offscreen.borrow_mut().take()
                            && let Err(message) = post(&worker, &attach(canvas))
                        {
                            on_reply(FromEngine::Unavailable { message });
                        }
                    }
                    reply => on_reply(reply),
                }
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
            on_reply(FromEngine::Unavailable {
                message: format!("The engine stopped: {}", event.message()),
            })
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));

        Ok(Self {
            worker,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    pub fn post(&self, message: &PageMessage) -> Result<(), String> {
        post(&self.worker, message)
    }
}

fn post(worker: &Worker, message: &PageMessage) -> Result<(), String> {
    worker
        .post_message_with_transfer(&message.encode()?, &message.transfer())
        .map_err(|_| "cannot reach the engine".to_string())
}

impl Drop for EngineClient {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}
