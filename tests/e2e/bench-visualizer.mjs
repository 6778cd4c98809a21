// The visualizer's scrubbing benchmark (not a test): restore a run in the
// built site in headless Chromium (WebGPU on SwiftShader, or with `cpu`
// the engine's CPU fallback), then move the Step slider to random computed
// steps and time each move: the input handler (every canvas redrawn from
// the pictures the page keeps), and input → the next animation frame (the
// browser has painted it). Prints Markdown for BENCHMARKS.md.
//
//   SCULPT_DIST=target/bench-dist node tests/e2e/bench-visualizer.mjs [steps] [moves] [webgpu|cpu]

import { servePage, openBrowser, noWebgpuFlags, webgpuFlags } from './harness.mjs';

const steps = Number(process.argv[2] ?? 8);
const moves = Number(process.argv[3] ?? 100);
const backend = process.argv[4] ?? 'cpu';
if (!['webgpu', 'cpu'].includes(backend)) throw new Error(`unknown backend ${backend}: webgpu or cpu`);

const server = await servePage();
const browser = await openBrowser({ flags: backend === 'cpu' ? noWebgpuFlags : webgpuFlags });
try {
  const { page } = browser;
  await page.goto(`${server.url}#/visualize?image=circle&seed=7&t=1&steps=${steps}`);
  await page.waitForFunction(() => document.getElementById('vis-noisy').dataset.t === '1.00', null, {
    timeout: 300_000,
  });
  const restoreStarted = Date.now();
  await page.click('#vis-restore');
  await page.waitForFunction(() => document.getElementById('visualize').dataset.run === 'done', null, {
    timeout: 900_000,
  });
  const restoreMs = Date.now() - restoreStarted;
  // "Look inside" open too: the latent tiles and the path redraw with each move.
  await page.click('#vis-inside summary');
  const timings = await page.evaluate(async ({ moves, steps }) => {
    const slider = document.getElementById('vis-step');
    const handler = [];
    const painted = [];
    let seed = 1;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let i = 0; i < moves; i++) {
      let step = Math.floor(random() * (steps + 1));
      if (String(step) === slider.value) step = (step + 1) % (steps + 1);
      // Start on a fresh frame, as a reader's input would.
      await new Promise(requestAnimationFrame);
      const started = performance.now();
      slider.value = String(step);
      slider.dispatchEvent(new Event('input', { bubbles: true }));
      handler.push(performance.now() - started);
      await new Promise(requestAnimationFrame);
      painted.push(performance.now() - started);
    }
    return { handler, painted };
  }, { moves, steps });
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const max = (values) => Math.max(...values);
  const kept = await page.evaluate((steps) => {
    const canvas = document.getElementById('vis-noisy');
    const frame = canvas.width * canvas.height * 4;
    const latent = document.getElementById('vis-latent-noisy');
    return { frame, frames: 1 + 3 * steps, width: canvas.width };
  }, steps);
  const label = backend === 'cpu' ? 'the CPU engine (no WebGPU)' : 'WebGPU (SwiftShader)';
  console.log(`Scrubbing a restored run, ${label}: sculpt-tiny at ${kept.width}×${kept.width}, ${steps} steps, "Look inside" open, ${moves} moves to random steps.\n`);
  console.log('| restore (ms) | input handler, median (ms) | input handler, max (ms) | input → next frame, median (ms) | input → next frame, max (ms) |');
  console.log('|---|---|---|---|---|');
  console.log(`| ${restoreMs} | ${median(timings.handler).toFixed(2)} | ${max(timings.handler).toFixed(2)} | ${median(timings.painted).toFixed(1)} | ${max(timings.painted).toFixed(1)} |`);
  console.log(`\nPictures kept: ${kept.frames} frames of ${kept.frame} bytes (${((kept.frames * kept.frame) / 1024).toFixed(0)} KiB) and ${1 + 2 * steps} latents.`);
} finally {
  await browser.close();
  await server.close();
}
