//! Models published as a folder of files with a manifest, the built-in
//! model's format: the built-in model beside the engine's own files (and
//! so kept offline by the app's service worker), or any other at its
//! address (the widget's `model` attribute). The manifest is fetched, then
//! each file, checked against the manifest's size and SHA-256 before
//! anything is loaded.
//!
//! Published models are small (the built-in one is under 20 MB), so each
//! file is held in memory while the pipeline loads it; imported models
//! stream from the weight store instead.

use std::{cell::Cell, rc::Rc};

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
use web_sys::{Response, Url, WorkerGlobalScope};

use crate::sources::WebSource;
use crate::{
    protocol::{BUILT_IN_MODEL, FromEngine},
    store::sha256_hex,
};

/// Where model `model`'s manifest is, for a published model: the built-in
/// one's beside the engine's files at `base`; a model named by an
/// `http(s)://` address (of its manifest, or of the folder that holds
/// `manifest.json`) there. `None`: an imported model's name.
pub fn manifest_address(model: &str, base: &str) -> Option<Result<String, String>> {
    if model == BUILT_IN_MODEL {
        return Some(resolve(
            &format!("models/{BUILT_IN_MODEL}/manifest.json"),
            base,
        ));
    }
    if !model.contains("://") {
        return None;
    }
    let Ok(url) = Url::new(model) else {
        return Some(Err(format!(
            "the model address {model} is not a valid address"
        )));
    };
    if !matches!(url.protocol().as_str(), "http:" | "https:") {
        return Some(Err(format!(
            "the model address {model} must start with https:// (or http://)"
        )));
    }
    if model.ends_with('/') {
        return Some(resolve("manifest.json", model));
    }
    Some(Ok(url.href()))
}

/// `path` read relative to `base`.
fn resolve(path: &str, base: &str) -> Result<String, String> {
    Url::new_with_base(path, base)
        .map(|url| url.href())
        .map_err(|_| format!("cannot make an address of {path} relative to {base}"))
}

/// Opens the model on the GPU; `update` hears of each file fetched.
pub async fn open(
    gpu: &Rc<Gpu>,
    manifest_url: &str,
    update: &dyn Fn(FromEngine),
) -> Result<GpuPipeline<WebSource>, String> {
    let (manifest, files) = fetch_model(manifest_url, update).await?;
    GpuPipeline::open(
        Rc::clone(gpu),
        ModelDefaults::of_manifest(&manifest),
        Some(manifest.config.clone()),
        files,
    )
    .await
    .map_err(|e| e.to_string())
}

/// A published model on the CPU (browsers without WebGPU).
pub async fn open_cpu(
    manifest_url: &str,
    update: &dyn Fn(FromEngine),
) -> Result<CpuPipeline, String> {
    let (manifest, files) = fetch_model(manifest_url, update).await?;
    CpuPipeline::open(
        ModelDefaults::of_manifest(&manifest),
        manifest.config.clone(),
        files,
    )
    .await
    .map_err(|e| e.to_string())
}

async fn fetch_model(
    manifest_url: &str,
    update: &dyn Fn(FromEngine),
) -> Result<(Manifest, ModelFiles<WebSource>), String> {
    let manifest = Manifest::from_json(manifest_url, &fetch(manifest_url).await?)
        .map_err(|e| e.to_string())?;
    // What a first visit waits for: said before each file.
    let count = manifest.files.len();
    let total_mb = manifest.files.values().map(|file| file.bytes).sum::<u64>() as f64 / 1e6;
    let fetched = Cell::new((0, 0.0));
    let fetch_announced = async |file: &ManifestFile| {
        let (files, mb) = fetched.get();
        update(FromEngine::Progress {
            message: format!(
                "Fetching the model: file {} of {count} ({mb:.1} of {total_mb:.1} MB)…",
                files + 1
            ),
        });
        let bytes = fetch_checked(manifest_url, file).await?;
        fetched.set((files + 1, mb + bytes.len() as f64 / 1e6));
        Ok::<_, String>(bytes)
    };
    let files = ModelFiles::of_manifest(
        &manifest,
        async |file| {
            let bytes = fetch_announced(file).await?;
            Ok::<_, Box<dyn std::error::Error>>(WebSource::Fetched(MemorySource::new(
                file.path.clone(),
                bytes,
            )))
        },
        async |file| Ok(fetch_announced(file).await?),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok((manifest, files))
}

/// A file of the model (its path relative to the manifest's address),
/// refused unless its size and SHA-256 are the manifest's.
async fn fetch_checked(manifest_url: &str, file: &ManifestFile) -> Result<Vec<u8>, String> {
    let path = resolve(&file.path, manifest_url)?;
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
        .map_err(|_| failed(
            "the network failed (or the server does not let this page read it), and there is no offline copy",
        ))?
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
