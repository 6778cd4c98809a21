// The CPU fallback in a browser without WebGPU: the engine starts on the CPU
// instead of failing, the page says so, every step is drawn (with the
// canvas's 2d context), the same seed gives the same pixels, and Cancel still
// stops a run between steps.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { servePage, openBrowser, noWebgpuFlags, waitForEngine, generate, differingBytes } from './harness.mjs';

let server;
before(async () => {
  server = await servePage();
});
after(async () => {
  await server?.close();
});

const STEPS = 3;

async function openWithoutWebgpu() {
  const browser = await openBrowser({ flags: noWebgpuFlags });
  const { page } = browser;
  await page.goto(server.url);
  // The premise: this browser really offers no WebGPU adapter.
  const adapter = await page.evaluate(async () => {
    if (!navigator.gpu) return 'no navigator.gpu';
    return (await navigator.gpu.requestAdapter()) === null ? 'no adapter' : 'an adapter';
  });
  assert.notEqual(adapter, 'an adapter');
  await waitForEngine(page);
  return browser;
}

test('without WebGPU the built-in model runs on the CPU, says so, and is deterministic', async () => {
  const browser = await openWithoutWebgpu();
  try {
    const { page, problems } = browser;
    assert.equal(await page.isVisible('#backend-notice'), true);
    assert.match(await page.textContent('#backend-notice'), /No WebGPU here: running on the CPU/);
    assert.equal(await page.getAttribute('html', 'data-backend'), 'cpu');

    const first = await generate(page, { prompt: 'a red circle on a blue background', seed: 11, steps: STEPS });
    // One new frame per step.
    assert.equal(first.frames.length, STEPS);
    assert.equal(await page.getAttribute('#frame', 'data-steps'), String(STEPS));
    const colours = new Set();
    for (let i = 0; i < first.final.data.length; i += 4) {
      colours.add(first.final.data.slice(i, i + 3).join(','));
    }
    assert.ok(colours.size > 16, `only ${colours.size} colours in the final image`);
    assert.equal(differingBytes(first.png.data, first.final.data), 0);

    const again = await generate(page, { prompt: 'a red circle on a blue background', seed: 11, steps: STEPS });
    assert.equal(differingBytes(again.final.data, first.final.data), 0, 'same seed, different pixels');
    for (let i = 0; i < STEPS; i++) {
      assert.equal(differingBytes(again.frames[i].data, first.frames[i].data), 0, `step ${i + 1} differs`);
    }
    const other = await generate(page, { prompt: 'a red circle on a blue background', seed: 12, steps: STEPS });
    assert.ok(differingBytes(other.png.data, first.png.data) > 1000, 'another seed gave the same image');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('on the CPU, cancel stops a generation after the current step', async () => {
  const browser = await openWithoutWebgpu();
  try {
    const { page } = browser;
    await page.fill('#steps', '50');
    await page.click('#generate-button');
    await page.waitForFunction(() => Number(document.getElementById('frame').dataset.steps) >= 1, null, {
      timeout: 120_000,
    });
    // Each step's time is shown, as on the GPU.
    assert.match(await page.textContent('#progress'), /Step \d+ of 50 .* · \d+ ms/);
    await page.click('#cancel');
    await page.waitForFunction(() => document.getElementById('app').dataset.state !== 'busy', null, {
      timeout: 120_000,
    });
    assert.match(await page.textContent('#progress'), /Cancelled after \d+ steps/);
    const steps = Number(await page.getAttribute('#frame', 'data-steps'));
    assert.ok(steps < 50, `ran all ${steps} steps`);
  } finally {
    await browser.close();
  }
});
