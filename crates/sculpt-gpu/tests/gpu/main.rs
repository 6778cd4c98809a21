//! GPU tests. Each one is written once as an `async fn` and runs twice: as a
//! native `#[test]` on whatever Vulkan/Metal/DX12 adapter is present (lavapipe
//! in CI), and as a `wasm_bindgen_test` in headless Chromium on WebGPU.
//!
//! Natively: `cargo test -p sculpt-gpu --test gpu`.
//! In the browser: `cargo xtask test --only wasm` (see README, "Browser tests").

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// Declares a GPU test from an `async fn(&Gpu)`, for both targets.
macro_rules! gpu_test {
    ($name:ident) => {
        mod $name {
            #[cfg(not(target_arch = "wasm32"))]
            #[test]
            fn native() {
                let gpu = pollster::block_on(crate::support::gpu());
                pollster::block_on(super::$name(&gpu));
            }

            #[cfg(target_arch = "wasm32")]
            #[wasm_bindgen_test::wasm_bindgen_test]
            async fn browser() {
                let gpu = crate::support::gpu().await;
                super::$name(&gpu).await;
            }
        }
    };
}

mod support;

mod attention;
mod conv;
mod device;
mod elementwise;
mod embed;
mod frame;
mod layout;
mod linear;
mod noise;
mod norm;
mod present;
mod resample;
mod rope;
mod softmax;
mod weights;
