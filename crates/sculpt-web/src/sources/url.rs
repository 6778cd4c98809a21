//! A model file on the web, read as a [`ByteSource`] with HTTP range
//! requests: the format readers fetch only the header, and the import
//! fetches one chunk at a time, so a 12 GB checkpoint never sits in wasm
//! memory. The server must allow this page to read it (CORS) and answer
//! ranges (206 Partial Content), as Hugging Face's file servers do.

use std::io;

use js_sys::Uint8Array;
use sculpt_flux::formats::{ByteSource, read_end};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, Response};

pub struct UrlSource {
    url: String,
    name: String,
    len: u64,
}

impl UrlSource {
    /// Asks the server for the file's size (a HEAD request).
    pub async fn open(url: &str) -> Result<Self, String> {
        let parsed = web_sys::Url::new(url)
            .map_err(|_| format!("\"{url}\" is not a web address (it needs https://…)"))?;
        if !matches!(parsed.protocol().as_str(), "https:" | "http:") {
            return Err(format!("\"{url}\" is not an http(s) address"));
        }
        let name = file_name(&parsed.pathname());
        let init = RequestInit::new();
        init.set_method("HEAD");
        let response = send(url, &init).await?;
        let len = response
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|len| len.trim().parse::<u64>().ok())
            .ok_or_else(|| format!("{url}: the server does not say how big the file is"))?;
        Ok(Self {
            url: url.into(),
            name,
            len,
        })
    }
}

/// The last path segment, decoded ("…/resolve/main/ae.safetensors" → "ae.safetensors").
fn file_name(path: &str) -> String {
    let last = path
        .rsplit('/')
        .find(|part| !part.is_empty())
        .unwrap_or("file");
    js_sys::decode_uri_component(last)
        .ok()
        .and_then(|name| name.as_string())
        .unwrap_or_else(|| last.to_string())
}

async fn send(url: &str, init: &RequestInit) -> Result<Response, String> {
    let request = Request::new_with_str_and_init(url, init)
        .map_err(|_| format!("\"{url}\" cannot be requested"))?;
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let response: Response = JsFuture::from(scope.fetch_with_request(&request))
        .await
        .map_err(|_| {
            format!(
                "cannot reach {url}: offline, or the server does not let other sites read it (CORS)"
            )
        })?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("{url}: the server answered {}", response.status()));
    }
    Ok(response)
}

impl ByteSource for UrlSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> u64 {
        self.len
    }

    async fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let end = read_end(&self.name, self.len, offset, buf.len())?;
        let headers = Headers::new().map_err(|_| io::Error::other("cannot build headers"))?;
        headers
            .set("range", &format!("bytes={offset}-{}", end - 1))
            .map_err(|_| io::Error::other("cannot build headers"))?;
        let init = RequestInit::new();
        init.set_headers(&headers);
        let response = send(&self.url, &init).await.map_err(io::Error::other)?;
        if response.status() != 206 {
            return Err(io::Error::other(format!(
                "{}: the server sent the whole file instead of the part asked for; it cannot be imported from this address",
                self.url
            )));
        }
        let body = response
            .array_buffer()
            .map_err(|_| io::Error::other(format!("{}: no body", self.url)))?;
        let buffer = JsFuture::from(body)
            .await
            .map_err(|_| io::Error::other(format!("{}: the download stopped", self.url)))?;
        let bytes = Uint8Array::new(&buffer);
        if bytes.length() as usize != buf.len() {
            return Err(io::Error::other(format!(
                "{}: asked for {} bytes, got {}",
                self.url,
                buf.len(),
                bytes.length()
            )));
        }
        bytes.copy_to(buf);
        Ok(())
    }
}
