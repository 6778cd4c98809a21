// The CPU fallback in a browser without WebGPU: the engine starts on the CPU
// instead of failing, the page says so, every step is drawn (with the
// canvas's 2d context), the same seed gives the same pixels, and Cancel still
// stops a run between steps.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  servePage, openBrowser, noWebgpuFlags, webgpuFlags, waitForEngine, assertNoError, downloadedPixels, differingBytes,
} from './harness.mjs';

let server;
before(async () => {
  server = await servePage();
});
after(async () => {
  await server?.close();
});

const STEPS = 3;

/**
 * Generates and records the frame the canvas shows at each step message.
 * On the CPU a step takes a fraction of a second, and on a loaded machine
 * neither the test's round trips nor the page's animation frames keep up;
 * the engine announces a step once its frame is on the canvas, so the page
 * reads the canvas as it handles each step message.
 */
async function generate(page, { prompt, seed, steps }) {
  await page.fill('#prompt', prompt);
  await page.fill('#steps', String(steps));
  await page.fill('#seed', String(seed));
  await page.evaluate(() => {
    const canvas = document.getElementById('frame');
    const scratch = new OffscreenCanvas(1, 1);
    window.sculptFrames = [];
    window.sculptObserver?.disconnect();
    window.sculptObserver = new MutationObserver(() => {
      scratch.width = canvas.width;
      scratch.height = canvas.height;
      const context = scratch.getContext('2d');
      context.drawImage(canvas, 0, 0);
      const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
      window.sculptFrames.push({ steps: canvas.dataset.steps, width: canvas.width, data: Array.from(data) });
    });
    window.sculptObserver.observe(canvas, { attributes: true, attributeFilter: ['data-steps'] });
  });
  await page.click('#generate-button');
  await page.waitForFunction(() => document.getElementById('app').dataset.state !== 'busy', null, {
    timeout: 240_000,
  });
  await assertNoError(page);
  const frames = await page.evaluate(() => window.sculptFrames.filter((frame) => frame.steps !== '0'));
  return { frames, png: await downloadedPixels(page) };
}

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
    // A frame per step, each new, the last of them the PNG offered.
    assert.deepEqual(first.frames.map((frame) => [frame.steps, frame.width]), [['1', 64], ['2', 64], ['3', 64]]);
    for (let i = 1; i < STEPS; i++) {
      assert.ok(differingBytes(first.frames[i].data, first.frames[i - 1].data) > 1000, `step ${i + 1} drew nothing new`);
    }
    const final = first.frames[STEPS - 1].data;
    assert.equal(differingBytes(first.png.data, final), 0);
    const colours = new Set();
    for (let i = 0; i < final.length; i += 4) colours.add(final.slice(i, i + 3).join(','));
    assert.ok(colours.size > 16, `only ${colours.size} colours in the final image`);

    const again = await generate(page, { prompt: 'a red circle on a blue background', seed: 11, steps: STEPS });
    assert.equal(differingBytes(again.png.data, first.png.data), 0, 'same seed, different pixels');
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

test('steps before the last are drawn by the preview decoder unless full quality is asked; the image is the same', async () => {
  const browser = await openWithoutWebgpu();
  try {
    const { page, problems } = browser;
    const settings = { prompt: 'a yellow star on a black background', seed: 5, steps: STEPS };
    assert.equal(await page.isChecked('#full-frames'), false, 'fast previews are the default');
    const fast = await generate(page, settings);
    await page.check('#full-frames');
    const full = await generate(page, settings);
    assert.equal(fast.frames.length, STEPS);
    assert.equal(full.frames.length, STEPS);
    for (let i = 0; i < STEPS - 1; i++) {
      assert.ok(differingBytes(fast.frames[i].data, full.frames[i].data) > 100,
        `step ${i + 1} was drawn the same by the preview and the full decoder`);
    }
    // The last step, and the PNG, come from the full decoder either way.
    assert.equal(differingBytes(fast.frames[STEPS - 1].data, full.frames[STEPS - 1].data), 0);
    assert.equal(differingBytes(fast.png.data, full.png.data), 0);
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

test('where WebGPU renders in software the page picks the CPU engine by itself, says why, and the setting overrides it', async () => {
  // WebGPU's flags: SwiftShader, Chromium's software WebGPU, with the page's setting left alone.
  const browser = await openBrowser({ flags: webgpuFlags, engine: null });
  try {
    const { page, problems } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    const fallback = await page.evaluate(async () => (await navigator.gpu.requestAdapter())?.info.isFallbackAdapter);
    assert.equal(fallback, true, 'the premise: this WebGPU adapter is a software fallback');
    assert.equal(await page.getAttribute('html', 'data-backend'), 'cpu');
    assert.equal(await page.inputValue('#engine'), 'auto');
    assert.equal(await page.textContent('#backend-notice'),
      'Running on the CPU engine: WebGPU here renders in software (google swiftshader), which is slower ' +
      'here than the CPU engine; choose WebGPU under "About this device" to use it anyway.');

    // Choosing WebGPU restarts the page on it (SwiftShader), and is kept.
    await page.click('#about-summary');
    await Promise.all([page.waitForEvent('load'), page.selectOption('#engine', 'webgpu')]);
    await waitForEngine(page);
    assert.equal(await page.getAttribute('html', 'data-backend'), null);
    assert.equal(await page.isVisible('#backend-notice'), false);
    assert.equal(await page.inputValue('#engine'), 'webgpu');
    assert.match(await page.textContent('#device-info'), /swiftshader/i);

    // Choosing the CPU says so.
    await page.click('#about-summary');
    await Promise.all([page.waitForEvent('load'), page.selectOption('#engine', 'cpu')]);
    await waitForEngine(page);
    assert.equal(await page.getAttribute('html', 'data-backend'), 'cpu');
    assert.match(await page.textContent('#backend-notice'), /^Running on the CPU engine, as chosen under "About this device"/);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
