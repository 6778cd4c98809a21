// The engine's step-level runs, driven as a page written in JavaScript
// would drive them (the visualizer and the blog widget will): the test
// starts the engine's worker itself, hands it a canvas, and sends start_run,
// step_run, draw_run, noise_run, restart_run and end_run, on WebGPU and on
// the CPU fallback. Every step is drawn; scrubbing back to a step draws the
// same pixels it drew when it was computed; the forward process draws pure
// noise at t = 1 and the finished image at t = 0; bad requests fail with a
// message and leave the run usable.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  servePage, openBrowser, webgpuFlags, noWebgpuFlags, canvasPixels, differingBytes,
} from './harness.mjs';

let server;
before(async () => {
  server = await servePage();
});
after(async () => {
  await server?.close();
});

// Two steps: enough to scrub between, and each costs seconds on SwiftShader.
const STEPS = 2;

/**
 * Opens the site (for its origin), then starts a second engine worker on a
 * canvas of the test's own, with `window.engine.request(message)` resolving
 * to the request's reply (progress messages are skipped). With WebGPU's
 * flags the attach asks for WebGPU (SwiftShader renders in software, where
 * `auto` would pick the CPU engine); first, an engine name the worker does
 * not know is refused in words.
 */
async function startEngine(flags) {
  const engine = flags === webgpuFlags ? 'webgpu' : undefined;
  const browser = await openBrowser({ flags });
  const { page } = browser;
  await page.goto(server.url);
  const ready = await page.evaluate(async (engine) => {
    const canvas = document.createElement('canvas');
    canvas.id = 'run-canvas';
    document.body.append(canvas);
    const worker = new Worker('./sculpt-worker_loader.js');
    const waiting = [];
    const replies = [];
    worker.onmessage = ({ data }) => {
      if (data.type === 'progress' || data.type === 'loaded') {
        if (data.type === 'loaded') worker.dispatchEvent(new Event('sculpt-loaded'));
        return;
      }
      replies.push(data);
      waiting.shift()?.(data);
    };
    const request = (message, transfer = []) =>
      new Promise((resolve) => {
        waiting.push(resolve);
        worker.postMessage(message, transfer);
      });
    window.engine = { request, replies };
    await new Promise((resolve) => worker.addEventListener('sculpt-loaded', resolve, { once: true }));
    const spare = new OffscreenCanvas(1, 1);
    const refused = await request({ type: 'attach', canvas: spare, engine: 'gpu' }, [spare]);
    const offscreen = canvas.transferControlToOffscreen();
    return { refused, ready: await request({ type: 'attach', canvas: offscreen, engine }, [offscreen]) };
  }, engine).then(({ refused, ready }) => {
    assert.equal(refused.type, 'failed');
    assert.match(refused.message, /engine field of an attach message must be "auto", "webgpu" or "cpu"/);
    return ready;
  });
  assert.equal(ready.type, 'ready', JSON.stringify(ready));
  return { ...browser, backend: ready.backend };
}

const request = (page, message) => page.evaluate((message) => window.engine.request(message), message);

/**
 * What the canvas shows once a frame drawn in the worker has reached it:
 * polls until `matches(pixels)` holds, then returns the pixels (or the last
 * ones read after 10 s).
 */
async function canvasWhen(page, matches) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { data: pixels } = await canvasPixels(page, '#run-canvas');
    if (matches(pixels) || Date.now() > deadline) return pixels;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const same = (a) => (b) => a.length === b.length && differingBytes(a, b) === 0;
const changedFrom = (a) => (b) => a.length !== b.length || differingBytes(a, b) > 0;

async function driveARun(flags, expectedBackend) {
  const { page, problems, close, backend } = await startEngine(flags);
  try {
    assert.equal(backend, expectedBackend);
    const started = await request(page, {
      type: 'start_run',
      model: 'sculpt-tiny',
      prompt: 'a red circle on a blue background',
      width: 64,
      height: 64,
      steps: STEPS,
      seed: 5,
      history: STEPS,
      show: 'current',
    });
    assert.equal(started.type, 'run_started', JSON.stringify(started));
    assert.equal(started.schedule.length, STEPS + 1);
    assert.equal(started.schedule[0], 1);
    assert.equal(started.schedule[STEPS], 0);
    assert.equal(started.history, STEPS);
    let shown = await canvasWhen(page, (pixels) => pixels.length === 64 * 64 * 4);
    const noise = shown;

    // Every step is drawn, each different from the one before.
    const frames = [];
    for (let index = 0; index < STEPS; index++) {
      const step = await request(page, { type: 'step_run' });
      assert.equal(step.type, 'step', JSON.stringify(step));
      assert.equal(step.index, index);
      assert.equal(step.t, started.schedule[index]);
      shown = await canvasWhen(page, changedFrom(shown));
      assert.ok(changedFrom(frames.at(-1) ?? noise)(shown), `step ${index} drew nothing new`);
      frames.push(shown);
    }
    const done = await request(page, { type: 'step_run' });
    assert.equal(done.type, 'failed');
    assert.match(done.message, new RegExp(`taken all its ${STEPS} steps`));

    // Scrubbing back draws each step's pixels again, exactly.
    for (const index of [1, 0]) {
      const drawn = await request(page, { type: 'draw_run', step: index, show: 'current' });
      assert.deepEqual(drawn, { type: 'run_drawn', step: index, show: 'current', t: started.schedule[index] });
      const again = await canvasWhen(page, same(frames[index]));
      assert.equal(differingBytes(again, frames[index]), 0, `step ${index} scrubbed`);
    }
    // Another view of a kept step: the predicted clean image differs from x_t.
    await request(page, { type: 'draw_run', step: 0, show: 'predicted_clean' });
    const predicted = await canvasWhen(page, changedFrom(frames[0]));
    assert.ok(differingBytes(predicted, frames[0]) > 0);
    const missing = await request(page, { type: 'draw_run', step: 7, show: 'current' });
    assert.equal(missing.type, 'failed');
    assert.match(missing.message, new RegExp(`step 7 is not kept: this run keeps steps 0 to ${STEPS - 1}`));

    // The forward process: t = 1 is the run's noise, t = 0 its image.
    const pure = await request(page, { type: 'noise_run', t: 1 });
    assert.deepEqual(pure, { type: 'run_drawn', step: null, show: 'current', t: 1 });
    const noisedFully = await canvasWhen(page, same(noise));
    assert.equal(differingBytes(noisedFully, noise), 0, 'noised to t = 1 is the start noise');
    await request(page, { type: 'noise_run', t: 0 });
    const clean = await canvasWhen(page, same(frames[STEPS - 1]));
    assert.equal(differingBytes(clean, frames[STEPS - 1]), 0, 'noised to t = 0 is the image');
    const outside = await request(page, { type: 'noise_run', t: 1.5 });
    assert.equal(outside.type, 'failed');
    assert.match(outside.message, /outside \[0, 1\]/);

    // Restarted at 0.5, the run visits 0.5, then the schedule below it.
    const restarted = await request(page, { type: 'restart_run', t: 0.5 });
    assert.equal(restarted.type, 'run_started', JSON.stringify(restarted));
    assert.deepEqual(restarted.schedule, [0.5, ...started.schedule.filter((t) => t < 0.5)]);
    for (let index = 0; index < restarted.schedule.length - 1; index++) {
      const step = await request(page, { type: 'step_run' });
      assert.equal(step.index, index);
    }

    assert.deepEqual(await request(page, { type: 'end_run' }), { type: 'run_ended' });
    const none = await request(page, { type: 'step_run' });
    assert.equal(none.type, 'failed');
    assert.match(none.message, /there is no run/);
    const badStart = await request(page, {
      type: 'start_run',
      model: 'sculpt-tiny',
      prompt: 'a cat',
      width: 64,
      height: 64,
      steps: 4,
      seed: 1,
      history: 0,
      show: 'current',
      t: 0.5,
    });
    assert.equal(badStart.type, 'failed');
    assert.match(badStart.message, /no image was given/);
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
}

test('a page drives a step-level run on WebGPU: step, scrub, noise, restart, end', async () => {
  await driveARun(webgpuFlags, 'webgpu');
});

test('the same run on the CPU fallback, where the browser has no WebGPU', async () => {
  await driveARun(noWebgpuFlags, 'cpu');
});
