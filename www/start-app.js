// Starts the page's wasm module. trunk would otherwise write this as an
// inline script, which the page's Content-Security-Policy (script-src 'self'
// 'wasm-unsafe-eval', in index.html) forbids; instead Trunk.toml's
// pattern_script has trunk put this file's tag in the page, with the
// hashed names of the wasm-bindgen script and the wasm on it.

const tag = document.querySelector('script[data-js][data-wasm]');
const { default: init } = await import(tag.dataset.js);
await init({ module_or_path: tag.dataset.wasm });
