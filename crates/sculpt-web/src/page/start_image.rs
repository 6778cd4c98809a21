//! The image a visualizer run or an image-to-image generation starts from:
//! one of the samples the built-in model made (`samples/samples.json`,
//! served with the page and kept offline), or one the reader chooses (a
//! file, a drop, an image of the history), as RGBA pixels at the run's size.

use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, CanvasRenderingContext2d, HtmlCanvasElement, ImageBitmap, Response};

use crate::page::dom;

const SAMPLES: &str = "samples/";

/// One of the sample images, as `samples.json` lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct Sample {
    pub id: String,
    pub file: String,
    /// The prompt the built-in model made it from.
    pub caption: String,
}

#[derive(Deserialize)]
struct SampleList {
    samples: Vec<Sample>,
}

/// A start image, decoded (drawn at a run's size with [`pixels_of`]):
/// `key` names it in the address (a sample's id; `None` for the reader's
/// own, which a link cannot carry).
#[derive(Clone, Debug)]
pub struct SourceImage {
    pub key: Option<String>,
    pub caption: String,
    pub bitmap: ImageBitmap,
}

/// The samples served with the page.
pub async fn samples() -> Result<Vec<Sample>, String> {
    let response = fetch(&format!("{SAMPLES}samples.json")).await?;
    let text = JsFuture::from(response.text().map_err(|_| "cannot read the sample list")?)
        .await
        .map_err(|_| "cannot read the sample list")?
        .as_string()
        .unwrap_or_default();
    let list: SampleList = serde_json::from_str(&text)
        .map_err(|e| format!("the sample list (samples/samples.json) is damaged: {e}"))?;
    Ok(list.samples)
}

/// A sample, decoded.
pub async fn sample(sample: &Sample) -> Result<SourceImage, String> {
    let blob = blob_at(&format!("{SAMPLES}{}", sample.file))
        .await
        .map_err(|_| format!("the sample image {} cannot be read", sample.file))?;
    Ok(SourceImage {
        key: Some(sample.id.clone()),
        caption: sample.caption.clone(),
        bitmap: decode(&blob)
            .await
            .map_err(|_| format!("the sample image {} cannot be read", sample.file))?,
    })
}

/// The reader's own image (`name` is its file's, shown as text); its
/// caption is empty.
pub async fn own(blob: &Blob, name: &str) -> Result<SourceImage, String> {
    let bitmap = decode(blob)
        .await
        .map_err(|message| format!("“{name}” is {message}"))?;
    Ok(SourceImage {
        key: None,
        caption: String::new(),
        bitmap,
    })
}

async fn fetch(path: &str) -> Result<Response, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: Response = JsFuture::from(window.fetch_with_str(path))
        .await
        .map_err(|_| format!("cannot fetch {path} (offline before the first visit?)"))?
        .unchecked_into();
    if !response.ok() {
        return Err(format!(
            "cannot fetch {path}: the server answered {}",
            response.status()
        ));
    }
    Ok(response)
}

/// Decodes an image file's bytes.
pub async fn decode(blob: &Blob) -> Result<ImageBitmap, String> {
    let window = web_sys::window().ok_or("no window")?;
    let decoding = window
        .create_image_bitmap_with_blob(blob)
        .map_err(|_| "this browser cannot decode images")?;
    Ok(JsFuture::from(decoding)
        .await
        .map_err(|_| "not an image this browser can read (PNG, JPEG, WebP or GIF)")?
        .unchecked_into())
}

/// A decoded image's centre, cropped to the target's shape, drawn at
/// `width` × `height`.
pub fn pixels_of(bitmap: &ImageBitmap, width: usize, height: usize) -> Result<Vec<u8>, ()> {
    let canvas: HtmlCanvasElement = dom::document()
        .create_element("canvas")
        .map_err(|_| ())?
        .unchecked_into();
    canvas.set_width(width as u32);
    canvas.set_height(height as u32);
    let context: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .ok_or(())?
        .unchecked_into();
    let (source_width, source_height) = (f64::from(bitmap.width()), f64::from(bitmap.height()));
    if source_width == 0.0 || source_height == 0.0 {
        return Err(());
    }
    let scale = (width as f64 / source_width).max(height as f64 / source_height);
    let (crop_width, crop_height) = (width as f64 / scale, height as f64 / scale);
    context
        .draw_image_with_image_bitmap_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(
            bitmap,
            (source_width - crop_width) / 2.0,
            (source_height - crop_height) / 2.0,
            crop_width,
            crop_height,
            0.0,
            0.0,
            width as f64,
            height as f64,
        )
        .map_err(|_| ())?;
    let data = context
        .get_image_data(0.0, 0.0, width as f64, height as f64)
        .map_err(|_| ())?;
    Ok(data.data().0)
}

/// The bytes at `url` (an object URL of an image the page holds, or a file
/// of the site).
pub async fn blob_at(url: &str) -> Result<Blob, String> {
    let response = fetch(url)
        .await
        .map_err(|_| "the image is no longer available".to_string())?;
    let blob = JsFuture::from(response.blob().map_err(|_| "cannot read the image")?)
        .await
        .map_err(|_| "cannot read the image")?;
    Ok(blob.unchecked_into())
}
