//! GPU tests. Each one is written once as an `async fn` and runs twice: as a
//! native `#[test]` on whatever Vulkan/Metal/DX12 adapter is present (lavapipe
//! in CI), and as a `wasm_bindgen_test` in headless Chromium on WebGPU.
//!
//! Natively: `cargo test -p sculpt-gpu --test gpu`.
//! In the browser: `cargo xtask test --only wasm` (see docs/development.md, "Browser tests").

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// Declares a GPU test from an `async fn(&Gpu)`, for both targets. With
/// `also_plain`, it runs a second time natively on a device limited to the
/// plain f32 kernels (for kernels with subgroup or f16 variants: the first
/// run takes whichever variant the adapter allows). Not in the browser, where
/// wgpu 30 asks for neither feature, so the first run is already the plain one.
macro_rules! gpu_test {
    ($name:ident) => {
        gpu_test!($name, []);
    };
    ($name:ident, also_plain) => {
        gpu_test!($name, [native_plain: plain_gpu]);
    };
    ($name:ident, [$($native:ident: $device:ident)?]) => {
        mod $name {
            #[cfg(not(target_arch = "wasm32"))]
            #[test]
            fn native() {
                let gpu = pollster::block_on(crate::support::gpu());
                pollster::block_on(super::$name(&gpu));
            }

            $(
                #[cfg(not(target_arch = "wasm32"))]
                #[test]
                fn $native() {
                    let gpu = pollster::block_on(crate::support::$device());
                    pollster::block_on(super::$name(&gpu));
                }
            )?

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
mod dtype;
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
