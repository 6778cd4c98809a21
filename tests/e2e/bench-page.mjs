// The page's own benchmark (not a test): load the built site in headless
// Chromium (WebGPU on SwiftShader, so CPU-bound; or, with `cpu`, without
// WebGPU, so the engine's CPU fallback) and time a generation with the
// built-in model. Prints Markdown for BENCHMARKS.md.
//
//   SCULPT_DIST=target/bench-dist node tests/e2e/bench-page.mjs [steps] [runs] [webgpu|cpu|auto] [fast|full]
//
// `webgpu` chooses WebGPU in the page's settings; `auto` leaves the page to
// pick its engine with WebGPU (SwiftShader) on offer, as a visitor's would.
//
// The last says how the steps before the last are drawn: by the preview
// decoder (fast, the page's default) or each decoded in full.

import { servePage, openBrowser, noWebgpuFlags, webgpuFlags } from './harness.mjs';

const steps = Number(process.argv[2] ?? 20);
const runs = Number(process.argv[3] ?? 2);
const backend = process.argv[4] ?? 'webgpu';
if (!['webgpu', 'cpu', 'auto'].includes(backend)) throw new Error(`unknown backend ${backend}: webgpu, cpu or auto`);
const preview = process.argv[5] ?? 'fast';
if (!['fast', 'full'].includes(preview)) throw new Error(`unknown preview ${preview}: fast or full`);

const server = await servePage();
const browser = await openBrowser(backend === 'cpu'
  ? { flags: noWebgpuFlags }
  : { flags: webgpuFlags, engine: backend === 'auto' ? null : 'webgpu' });
try {
  const { page } = browser;
  const rows = [];
  for (let run = 1; run <= runs; run++) {
    const loadStarted = Date.now();
    await page.goto(server.url);
    await page.waitForFunction(() => document.getElementById('app').dataset.state === 'ready', null, {
      timeout: 120_000,
    });
    const ready = Date.now() - loadStarted;
    await page.fill('#steps', String(steps));
    await page.fill('#seed', '1');
    await page.setChecked('#full-frames', preview === 'full');
    const clicked = Date.now();
    await page.click('#generate-button');
    const stepMs = [];
    let firstStep = null;
    for (let step = 1; step <= steps; step++) {
      await page.waitForFunction(
        (step) => Number(document.getElementById('frame').dataset.steps) >= step ||
          document.getElementById('app').dataset.state === 'error',
        step,
        { timeout: 600_000, polling: 10 },
      );
      if (firstStep === null) firstStep = Date.now() - loadStarted;
      const text = await page.textContent('#progress');
      const ms = Number(/· (\d+) ms/.exec(text)?.[1]);
      if (Number.isFinite(ms)) stepMs.push(ms);
    }
    await page.waitForFunction(() => document.getElementById('app').dataset.state !== 'busy', null, {
      timeout: 600_000,
    });
    if ((await page.getAttribute('#app', 'data-state')) === 'error') {
      throw new Error(`the page failed: ${await page.textContent('#error')}`);
    }
    const total = Date.now() - clicked;
    const sorted = [...stepMs].sort((a, b) => a - b);
    rows.push({ run, ready, firstStep, median: sorted[Math.floor(sorted.length / 2)], total });
  }
  const engine = {
    cpu: 'without WebGPU: the CPU fallback (candle in wasm with SIMD, one thread)',
    webgpu: '(WebGPU on SwiftShader, chosen in the settings)',
    auto: `with WebGPU on SwiftShader on offer and the engine left to the page (it chose ${await page.getAttribute('html', 'data-backend') ?? 'webgpu'})`,
  }[backend];
  const frames = preview === 'full' ? 'every step decoded in full' : 'steps drawn by the preview decoder';
  console.log(`Built-in model, 64 × 64, ${steps} steps, headless Chromium ${engine}; ${frames}.`);
  console.log('Run 1 starts with an empty browser cache; later runs reload the page in the same browser.\n');
  console.log('| run | page load → engine ready (ms) | page load → first step drawn (ms) | median ms per step | Generate → PNG (ms) |');
  console.log('|---|---|---|---|---|');
  for (const row of rows) {
    console.log(`| ${row.run} | ${row.ready} | ${row.firstStep} | ${row.median} | ${row.total} |`);
  }
} finally {
  await browser.close();
  await server.close();
}
