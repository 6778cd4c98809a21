// Generating with the built-in model in the page: every step is drawn on the
// canvas as the engine computes it, the result is offered as a PNG and kept in
// the history, the same seed gives the same pixels, the flow works by
// keyboard, and it all works again with the network off after one visit.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { servePage, openBrowser, canvasPixels, settledCanvasPixels, waitForOfflineCopy, tabTo } from './harness.mjs';

let server;
before(async () => {
  server = await servePage();
});
after(async () => {
  await server?.close();
});

const STEPS = 4;

async function waitForEngine(page) {
  await page.waitForFunction(
    () => document.getElementById('frame').dataset.phase === '0' ||
      document.getElementById('app').dataset.state === 'error',
    null,
    { timeout: 60_000 },
  );
  await assertNoError(page);
}

async function assertNoError(page) {
  if ((await page.getAttribute('#app', 'data-state')) === 'error') {
    assert.fail(`the page shows an error: ${await page.textContent('#error')}`);
  }
}

/**
 * Clicks Generate with these settings and watches the canvas until the
 * generation ends, recording every distinct frame it shows at the image's
 * size; returns those frames, the PNG's pixels and the canvas at the end.
 * (The canvas is read every few milliseconds rather than per step message:
 * a frame can reach the canvas before or after the engine's step message.)
 */
async function generate(page, { prompt, seed, steps = STEPS, show = 'current', size = 64 }) {
  await page.fill('#prompt', prompt);
  await page.fill('#steps', String(steps));
  await page.fill('#seed', String(seed));
  await page.check('#keep-seed');
  await page.check(`input[name=show][value=${show}]`);
  // What the canvas showed before (a test pattern, or an earlier image) is
  // not one of this generation's frames.
  let last = await canvasPixels(page, '#frame');
  await page.click('#generate-button');
  const frames = [];
  const deadline = Date.now() + 240_000;
  for (;;) {
    const busy = (await page.getAttribute('#app', 'data-state')) === 'busy';
    const pixels = await canvasPixels(page, '#frame');
    const changed = pixels.width !== last.width || differingBytes(last.data, pixels.data) > 0;
    if (pixels.width === size && changed) frames.push(pixels);
    last = pixels;
    if (!busy) break;
    assert.ok(Date.now() < deadline, 'the generation did not finish in 4 minutes');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await assertNoError(page);
  const png = await downloadedPixels(page);
  const final = await settledCanvasPixels(page, '#frame', ({ data }) => differingBytes(data, png.data) === 0);
  return { frames, png, final };
}

/** The downloadable PNG, decoded by the browser. */
async function downloadedPixels(page) {
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

function differingBytes(a, b) {
  let count = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) count++;
  return count;
}

test('every step is drawn, the result is a non-trivial PNG, and seeds are deterministic', async () => {
  const browser = await openBrowser();
  try {
    const { page, problems } = browser;
    await page.goto(server.url);
    await waitForEngine(page);

    const first = await generate(page, { prompt: 'a red circle on a blue background', seed: 11 });
    // One new frame per step (frames are recorded only when they change).
    assert.equal(first.frames.length, STEPS);
    assert.equal(await page.getAttribute('#frame', 'data-steps'), String(STEPS));
    assert.equal(first.final.width, 64);
    // Not a flat image: many distinct colours.
    const colours = new Set();
    for (let i = 0; i < first.final.data.length; i += 4) {
      colours.add(first.final.data.slice(i, i + 3).join(','));
    }
    assert.ok(colours.size > 16, `only ${colours.size} colours in the final image`);

    // The PNG offered for download is exactly what the canvas shows last.
    assert.equal(first.png.name, 'sculpt-11.png');
    assert.equal(first.png.width, 64);
    assert.equal(differingBytes(first.png.data, first.final.data), 0);
    assert.equal(await page.locator('#history li').count(), 1);
    assert.match(await page.getAttribute('#history img', 'alt'), /a red circle on a blue background \(seed 11/);

    const again = await generate(page, { prompt: 'a red circle on a blue background', seed: 11 });
    assert.equal(differingBytes(again.png.data, first.png.data), 0, 'same seed, different pixels');
    const other = await generate(page, { prompt: 'a red circle on a blue background', seed: 12 });
    assert.ok(differingBytes(other.png.data, first.png.data) > 1000, 'another seed gave the same image');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('the history survives a reload, and bad settings are refused in the page', async () => {
  const browser = await openBrowser();
  try {
    const { page } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    await generate(page, { prompt: 'small yellow star, bottom right, on black', seed: 3, steps: 1 });
    await page.reload();
    await waitForEngine(page);
    await page.waitForSelector('#history li');
    assert.match(await page.getAttribute('#history img', 'alt'), /small yellow star.*seed 3/);

    await page.fill('#prompt', '   ');
    await page.click('#generate-button');
    await page.waitForSelector('#error:not([hidden])');
    assert.match(await page.textContent('#error'), /Type a prompt first/);

    await page.fill('#prompt', 'a cat');
    await page.$eval('#steps', (input) => {
      input.type = 'text';
      input.value = 'many';
    });
    await page.click('#generate-button');
    await page.waitForFunction(() => /Steps must be a whole number/.test(document.getElementById('error').textContent));
  } finally {
    await browser.close();
  }
});

test('cancel stops a generation after the current step', async () => {
  const browser = await openBrowser();
  try {
    const { page } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    await page.fill('#steps', '50');
    await page.click('#generate-button');
    await page.waitForFunction(() => Number(document.getElementById('frame').dataset.steps) >= 1, null, {
      timeout: 120_000,
    });
    await page.click('#cancel');
    await page.waitForFunction(() => document.getElementById('app').dataset.state !== 'busy', null, {
      timeout: 120_000,
    });
    assert.match(await page.textContent('#progress'), /Cancelled after \d+ steps/);
    const steps = Number(await page.getAttribute('#frame', 'data-steps'));
    assert.ok(steps < 50, `ran all ${steps} steps`);
    assert.equal(await page.isDisabled('#generate-button'), false);
  } finally {
    await browser.close();
  }
});

test('a GPU reset ends the run with a message, and the next Generate starts the GPU again', async () => {
  const browser = await openBrowser();
  try {
    const { page } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    await page.fill('#steps', '50');
    await page.click('#generate-button');
    await page.waitForFunction(() => Number(document.getElementById('frame').dataset.steps) >= 1, null, {
      timeout: 120_000,
    });
    await page.click('#selftest-summary');
    await page.click('#reset-gpu');
    await page.waitForFunction(() => document.getElementById('app').dataset.state !== 'busy', null, {
      timeout: 120_000,
    });
    assert.equal(await page.getAttribute('#app', 'data-state'), 'error');
    assert.match(await page.textContent('#error'), /The GPU stopped during the generation/);

    const again = await generate(page, { prompt: 'a purple triangle, centre', seed: 5, steps: 2 });
    assert.equal(again.frames.length, 2);
    assert.equal(await page.getAttribute('#app', 'data-state'), 'ready');
  } finally {
    await browser.close();
  }
});

test('the generator works by keyboard alone, and offline after one visit', async () => {
  const browser = await openBrowser();
  try {
    const { context, page } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    await waitForOfflineCopy(page);
    await context.setOffline(true);
    await page.reload();
    await waitForEngine(page);

    // Tab to the prompt, type, then Tab through to Generate and press Enter.
    await tabTo(page, 'prompt');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('a green square, top left');
    await tabTo(page, 'steps');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('2');
    await tabTo(page, 'generate-button');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('app').dataset.state === 'busy');
    await page.waitForFunction(() => document.getElementById('app').dataset.state !== 'busy', null, {
      timeout: 120_000,
    });
    await assertNoError(page);
    assert.equal(await page.getAttribute('#frame', 'data-steps'), '2');
    assert.match(await page.textContent('#progress'), /Done: 2 steps/);

    // Every control has a label a screen reader can announce.
    const unlabeled = await page.$$eval('input, button, select, textarea', (controls) =>
      controls.filter((c) => !(c.labels?.length || c.getAttribute('aria-label') || c.textContent.trim()))
        .map((c) => c.id || c.name));
    assert.deepEqual(unlabeled, []);
  } finally {
    await browser.close();
  }
});

