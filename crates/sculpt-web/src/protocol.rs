//! The engine's messages: the one boundary between a page (the generator;
//! later the visualizer and the blog widget) and the engine running in its
//! Web Worker.
//!
//! Every message is a plain JavaScript object with a `type` field, so a page
//! written in JavaScript speaks the same protocol as this crate's page (the
//! Rust types here serialize through serde-wasm-bindgen). The one message
//! that is not described here is `{ type: "attach", canvas }`, which
//! transfers the `OffscreenCanvas` the engine draws every frame into; the
//! page sends it once the engine says [`FromEngine::Loaded`] (a message sent
//! to a worker before its wasm module has loaded would be lost).

use serde::{Deserialize, Serialize};

/// What a page asks of the engine. Requests are handled one at a time, in
/// the order sent; each gets exactly one reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToEngine {
    /// Draw the engine self-test pattern (a compute kernel's input drawn by
    /// the present shader) with this phase, filling the canvas.
    SelfTest { phase: u32 },
}

/// What the engine tells the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromEngine {
    /// The engine's code has loaded and listens: send `attach` now.
    Loaded,
    /// The engine has a GPU and the canvas: `device` describes the adapter
    /// (label, value rows for an "About this device" panel).
    Ready { device: Vec<(String, String)> },
    /// The engine cannot run on this browser or device; `message` says why,
    /// for the page to show.
    Unavailable { message: String },
    /// The self-test frame for `phase` is on the canvas; `ms` is the time
    /// from request to present.
    SelfTestDrawn { phase: u32, ms: f64 },
    /// A request failed; the engine is still usable.
    Failed { message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_objects_a_page_in_javascript_can_write() {
        let request: ToEngine = serde_json::from_str(r#"{"type":"self_test","phase":3}"#).unwrap();
        assert_eq!(request, ToEngine::SelfTest { phase: 3 });
        let reply = serde_json::to_value(FromEngine::SelfTestDrawn { phase: 3, ms: 1.5 }).unwrap();
        assert_eq!(reply["type"], "self_test_drawn");
        assert_eq!(reply["phase"], 3);
        let ready = serde_json::to_value(FromEngine::Ready {
            device: vec![("Device".into(), "SwiftShader".into())],
        })
        .unwrap();
        assert_eq!(ready["device"][0][1], "SwiftShader");
    }
}
