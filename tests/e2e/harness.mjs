// The end-to-end harness: serves the trunk-built page from SCULPT_DIST on a
// free loopback port and drives Debian's Chromium through playwright-core.
// Chromium's flags come from crates/sculpt-gpu/webdriver.json, the same file
// the wasm unit tests use, so both levels run on the same WebGPU setup.

import { createServer } from 'node:http';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

const webdriver = JSON.parse(
  await readFile(path.join(root, 'crates/sculpt-gpu/webdriver.json'), 'utf8'),
);
const chromeOptions = webdriver['goog:chromeOptions'];

/** Chromium flags that give WebGPU on SwiftShader, headless and off the network. */
export const webgpuFlags = chromeOptions.args;

/** The same browser without the flags that enable WebGPU. */
export const noWebgpuFlags = webgpuFlags
  .filter((flag) => !/webgpu|vulkan/i.test(flag))
  .concat(['--disable-gpu']);

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.webmanifest': 'application/manifest+json',
};

/**
 * Serves the built page; resolves to { url, close }. `headers` go with every
 * response; `rewrite(pathname, body)` may change a file's bytes as served;
 * `served(pathname, bytes)` hears of every body sent; `pages` maps more
 * paths to HTML served as if it were in `dist`.
 */
export async function servePage(
  dist = process.env.SCULPT_DIST,
  { headers: extra = {}, rewrite, served = () => {}, pages = {} } = {},
) {
  if (!dist) {
    throw new Error('SCULPT_DIST is not set: run these tests through `cargo xtask test --only e2e`');
  }
  const server = createServer(async (request, response) => {
    const pathname = decodeURIComponent(new URL(request.url, 'http://x').pathname);
    const relative = pathname.endsWith('/') ? `${pathname}index.html` : pathname;
    const file = path.join(dist, path.normalize(relative));
    if (!file.startsWith(path.resolve(dist))) {
      response.writeHead(403).end();
      return;
    }
    try {
      const read = relative in pages ? Buffer.from(pages[relative]) : await readFile(file);
      const body = rewrite ? Buffer.from(rewrite(relative, read)) : read;
      const headers = {
        'content-type': types[path.extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-cache',
        'accept-ranges': 'bytes',
        ...extra,
      };
      // Single byte ranges, as a file server answers them (imports by address read ranges).
      const range = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '');
      if (range) {
        const [start, end] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
        if (start > end) {
          response.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
          return;
        }
        headers['content-range'] = `bytes ${start}-${end}/${body.length}`;
        headers['content-length'] = end - start + 1;
        response.writeHead(206, headers);
        const part = request.method === 'HEAD' ? undefined : body.subarray(start, end + 1);
        served(pathname, part?.length ?? 0);
        response.end(part);
        return;
      }
      headers['content-length'] = body.length;
      response.writeHead(200, headers);
      served(pathname, request.method === 'HEAD' ? 0 : body.length);
      response.end(request.method === 'HEAD' ? undefined : body);
    } catch {
      response.writeHead(404, extra).end('not found');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * Starts Chromium with a fresh profile; resolves to { browser, context, page, close }.
 * Console errors and page crashes are collected in `problems` for the test to report.
 * `engine` presets the page's Engine setting (`auto`, `webgpu`, `cpu`; `null`: left alone, so `auto`);
 * with WebGPU's flags it is `webgpu` unless said otherwise.
 */
export async function openBrowser({ flags = webgpuFlags, engine = flags === webgpuFlags ? 'webgpu' : undefined } = {}) {
  const profile = await mkdtemp(path.join(tmpdir(), 'sculpt-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromeOptions.binary,
    headless: true,
    args: flags.filter((flag) => !flag.startsWith('--headless')),
    viewport: { width: 1000, height: 800 },
  });
  // The page's "Engine" setting. SwiftShader is a software renderer, where
  // the page would pick the CPU engine by itself: tests of the WebGPU path
  // choose WebGPU, as a user can under "About this device".
  if (engine) {
    await context.addInitScript((engine) => {
      try {
        if (localStorage.getItem('sculpt-engine') === null) localStorage.setItem('sculpt-engine', engine);
      } catch {
        // An opaque origin (about:blank) has no storage.
      }
    }, engine);
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  return {
    context,
    page,
    problems,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * The RGBA bytes the canvas shows now. The engine draws from its worker into
 * the canvas (an OffscreenCanvas placeholder), so the page cannot read its
 * context; drawing the canvas into a scratch canvas reads what is displayed.
 */
export async function canvasPixels(page, selector) {
  return page.$eval(selector, (canvas) => {
    const { width, height } = canvas;
    const scratch = new OffscreenCanvas(width, height);
    const context = scratch.getContext('2d');
    context.drawImage(canvas, 0, 0);
    return { width, height, data: Array.from(context.getImageData(0, 0, width, height).data) };
  });
}

/**
 * Reads the canvas until `matches(pixels)` holds or `timeout` ms pass, and
 * returns the last pixels read: a frame presented from a worker reaches the
 * page's canvas a moment after the worker reports it drawn.
 */
export async function settledCanvasPixels(page, selector, matches, timeout = 5_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const pixels = await canvasPixels(page, selector);
    if (matches(pixels) || Date.now() > deadline) return pixels;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Waits until the service worker has finished installing (its offline copy
 * is complete once it is active). Polls: waitForFunction does not await an
 * async predicate.
 */
export async function waitForOfflineCopy(page, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const state = await page.evaluate(
      async () => (await navigator.serviceWorker.getRegistration())?.active?.state,
    );
    if (state === 'activated') return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('the service worker did not become active: the page would not work offline');
}

/** Presses Tab until the element with `id` has the focus (at most 40 times). */
export async function tabTo(page, id) {
  for (let i = 0; i < 40; i++) {
    if ((await page.evaluate(() => document.activeElement?.id)) === id) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`Tab never reached #${id}`);
}

/** Waits for the engine to be ready (the page idle) or the page to show an error. */
export async function waitForEngine(page) {
  await page.waitForFunction(
    () => ['ready', 'error'].includes(document.getElementById('app').dataset.state),
    null,
    { timeout: 60_000 },
  );
  await assertNoError(page);
}

/** Shows a surface through the page's navigation ('Generate', 'Visualize', 'Models'). */
export async function showSurface(page, name) {
  await page.getByRole('navigation').getByRole('link', { name, exact: true }).click();
}

export async function assertNoError(page) {
  if ((await page.getAttribute('#app', 'data-state')) === 'error') {
    assert.fail(`the page shows an error: ${await page.textContent('#error')}`);
  }
}

/**
 * Clicks Generate with these settings and watches the canvas until the
 * generation ends. Returns `steps`, every step the page reported drawn (the
 * canvas's data-steps, each change observed), `frames`, the distinct images
 * the canvas showed at the image's size, the PNG's pixels and the canvas at
 * the end. The canvas is read inside the page every few milliseconds, not per
 * step message: a frame drawn in the worker reaches the page's canvas before
 * or after its step message, and two frames drawn close together on a loaded
 * machine can reach it as one, so `frames` may hold fewer than `steps`.
 */
export async function generate(page, { prompt, seed, steps = 4, show = 'current', size = 64 }) {
  await page.fill('#prompt', prompt);
  await page.fill('#steps', String(steps));
  // Typing a seed is enough for it to be used.
  await page.fill('#seed', String(seed));
  await page.check(`input[name=show][value=${show}]`);
  await page.evaluate((size) => {
    const canvas = document.getElementById('frame');
    const scratch = new OffscreenCanvas(1, 1);
    const read = () => {
      scratch.width = canvas.width;
      scratch.height = canvas.height;
      const context = scratch.getContext('2d');
      context.drawImage(canvas, 0, 0);
      return { width: canvas.width, height: canvas.height, data: context.getImageData(0, 0, canvas.width, canvas.height).data };
    };
    const same = (a, b) => a.width === b.width && a.data.every((value, i) => value === b.data[i]);
    // What the canvas showed before (a test pattern, or an earlier image) is
    // not one of this generation's frames.
    let last = read();
    const watch = { frames: [], steps: [], stop: false };
    window.sculptWatch = watch;
    watch.observer = new MutationObserver((records) => {
      // Each record holds the value before its change: the values set are
      // the next records' old values, then the current one.
      const values = records.slice(1).map((record) => record.oldValue).concat([canvas.dataset.steps]);
      for (const value of values) if (value !== '0') watch.steps.push(Number(value));
    });
    watch.observer.observe(canvas, { attributes: true, attributeFilter: ['data-steps'], attributeOldValue: true });
    const tick = () => {
      const pixels = read();
      if (pixels.width === size && !same(pixels, last)) {
        watch.frames.push({ width: pixels.width, height: pixels.height, data: Array.from(pixels.data) });
      }
      last = pixels;
      if (!watch.stop) setTimeout(tick, 4);
    };
    tick();
  }, size);
  const png = await pressGenerate(page);
  // The last frame reaches the canvas a moment after the run ends: keep
  // watching until the canvas shows the image.
  const final = await settledCanvasPixels(page, '#frame', ({ data }) => differingBytes(data, png.data) === 0);
  const { frames, steps: drawn } = await page.evaluate(() => {
    const watch = window.sculptWatch;
    watch.stop = true;
    watch.observer.disconnect();
    return { frames: watch.frames, steps: watch.steps };
  });
  return { steps: drawn, frames, png, final };
}

/** Presses Generate, waits for the image and returns its PNG's pixels and file name. */
export async function pressGenerate(page) {
  await page.click('#generate-button');
  await page.waitForFunction(() => document.getElementById('app').dataset.state !== 'busy', null, {
    timeout: 240_000,
  });
  await assertNoError(page);
  return downloadedPixels(page);
}

/** The downloadable PNG, decoded by the browser. */
export async function downloadedPixels(page) {
  return page.evaluate(async () => {
    const link = document.getElementById('download');
    const image = new Image();
    image.src = link.href;
    await image.decode();
    const canvas = new OffscreenCanvas(image.width, image.height);
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const { data } = context.getImageData(0, 0, image.width, image.height);
    return { width: image.width, height: image.height, data: Array.from(data), name: link.download };
  });
}

export function differingBytes(a, b) {
  let count = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) count++;
  return count;
}
