//! The built-in model, fetched from the site (and so kept offline by the
//! service worker): its manifest, then each file, checked against the
//! manifest's size and SHA-256 before anything is loaded.
//!
//! The built-in model's files are small (at most 20 MB together), so each is
//! held in memory while the pipeline loads it; imported models stream from
//! the weight store instead.

use std::rc::Rc;

use js_sys::Uint8Array;
use sculpt_flux::{
    cpu::CpuPipeline,
    formats::MemorySource,
    gpu::GpuPipeline,
    pipeline::{Manifest, ManifestFile, ModelDefaults, ModelFiles},
};
use sculpt_gpu::Gpu;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Response, WorkerGlobalScope};

use crate::sources::WebSource;
use crate::{protocol::BUILT_IN_MODEL, store::sha256_hex};

pub async fn open(gpu: &Rc<Gpu>) -> Result<GpuPipeline<WebSource>, String> {
    let (manifest, files) = fetch_model().await?;
    GpuPipeline::open(
        Rc::clone(gpu),
        ModelDefaults::of_manifest(&manifest),
        Some(manifest.config.clone()),
        files,
    )
    .await
    .map_err(|e| e.to_string())
}

/// The built-in model on the CPU (browsers without WebGPU).
pub async fn open_cpu() -> Result<CpuPipeline, String> {
    let (manifest, files) = fetch_model().await?;
    CpuPipeline::open(
        ModelDefaults::of_manifest(&manifest),
        manifest.config.clone(),
        files,
    )
    .await
    .map_err(|e| e.to_string())
}

async fn fetch_model() -> Result<(Manifest, ModelFiles<WebSource>), String> {
    let folder = format!("models/{BUILT_IN_MODEL}/");
    let manifest_path = format!("{folder}manifest.json");
    let manifest = Manifest::from_json(&manifest_path, &fetch(&manifest_path).await?)
        .map_err(|e| e.to_string())?;
    let files = ModelFiles::of_manifest(
        &manifest,
        async |file| {
            let bytes = fetch_checked(&folder, file).await?;
            Ok::<_, Box<dyn std::error::Error>>(WebSource::Fetched(MemorySource::new(
                file.path.clone(),
                bytes,
            )))
        },
        async |file| Ok(fetch_checked(&folder, file).await?),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok((manifest, files))
}

/// A file of the model, refused unless its size and SHA-256 are the
/// manifest's.
async fn fetch_checked(folder: &str, file: &ManifestFile) -> Result<Vec<u8>, String> {
    let path = format!("{folder}{}", file.path);
    let bytes = fetch(&path).await?;
    let sha256 = sha256_hex(&bytes);
    if bytes.len() as u64 != file.bytes || sha256 != file.sha256 {
        return Err(format!(
            "{path} is damaged: {} bytes with SHA-256 {sha256}, but the manifest says {} bytes with {}; reload the page",
            bytes.len(),
            file.bytes,
            file.sha256
        ));
    }
    Ok(bytes)
}

async fn fetch(path: &str) -> Result<Vec<u8>, String> {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    let failed = |why: &str| format!("cannot fetch {path}: {why}");
    let response: Response = JsFuture::from(scope.fetch_with_str(path))
        .await
        .map_err(|_| failed("the network and the offline copy both failed"))?
        .unchecked_into();
    if !response.ok() {
        return Err(failed(&format!(
            "the server answered {}",
            response.status()
        )));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(|_| failed("no body"))?)
        .await
        .map_err(|_| failed("the download stopped"))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
