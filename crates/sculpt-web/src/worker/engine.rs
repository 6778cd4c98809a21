//! The engine: a GPU, the canvas it draws on, and the requests it serves.

use sculpt_gpu::{Gpu, Tensor, kernels::frame::test_pattern};
use wasm_bindgen::JsCast;
use web_sys::OffscreenCanvas;

use super::canvas::CanvasTarget;
use crate::protocol::{FromEngine, ToEngine};

/// The largest self-test phase the page offers.
pub const MAX_PHASE: u32 = 1000;

pub struct Engine {
    gpu: Gpu,
    canvas: CanvasTarget,
}

impl Engine {
    pub async fn start(canvas: OffscreenCanvas) -> Result<Self, String> {
        let gpu = Gpu::new().await.map_err(|e| e.to_string())?;
        let canvas = CanvasTarget::new(&gpu, canvas)?;
        Ok(Self { gpu, canvas })
    }

    pub fn device_rows(&self) -> Vec<(String, String)> {
        self.gpu
            .report
            .rows()
            .into_iter()
            .map(|(label, value)| (label.to_string(), value))
            .collect()
    }

    pub async fn handle(&mut self, request: ToEngine) -> FromEngine {
        match request {
            ToEngine::SelfTest { phase } => match self.self_test(phase) {
                Ok(ms) => FromEngine::SelfTestDrawn { phase, ms },
                Err(message) => FromEngine::Failed { message },
            },
        }
    }

    fn self_test(&self, phase: u32) -> Result<f64, String> {
        if phase > MAX_PHASE {
            return Err(format!(
                "Pattern phase must be a whole number from 0 to {MAX_PHASE}, not {phase}."
            ));
        }
        let started = now_ms();
        let (width, height) = self.canvas.size();
        let planes = Tensor::from_slice(
            &self.gpu,
            &test_pattern(width, height, phase),
            &[3, height as usize, width as usize],
        )
        .map_err(|e| e.to_string())?;
        self.canvas.show(&self.gpu, &planes)?;
        Ok(now_ms() - started)
    }
}

fn now_ms() -> f64 {
    // A worker has `performance` on its global scope, not on a window.
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .map(|performance| performance.unchecked_into::<web_sys::Performance>().now())
        .unwrap_or(0.0)
}
