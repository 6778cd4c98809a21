// Generating with the built-in model in the page: every step is drawn on the
// canvas as the engine computes it, the result is offered as a PNG and kept in
// the history, the same seed gives the same pixels, the flow works by
// keyboard, and it all works again with the network off after one visit.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  servePage, openBrowser, waitForOfflineCopy, tabTo, waitForEngine, assertNoError, generate, differingBytes,
} from './harness.mjs';

let server;
before(async () => {
  server = await servePage();
});
after(async () => {
  await server?.close();
});

// Three steps: a first, a middle and a last to be drawn in order; each step
// costs seconds on SwiftShader, and this test generates three times.
const STEPS = 3;

test('every step is drawn, the result is a non-trivial PNG, and seeds are deterministic', async () => {
  const browser = await openBrowser();
  try {
    const { page, problems } = browser;
    await page.goto(server.url);
    await waitForEngine(page);

    const first = await generate(page, { prompt: 'a red circle on a blue background', seed: 11, steps: STEPS });
    // Every step drawn, in order; the canvas changed at least once per pair of
    // steps (frames drawn close together can reach it as one).
    assert.deepEqual(first.steps, [1, 2, 3]);
    assert.ok(first.frames.length >= STEPS / 2 && first.frames.length <= STEPS, `${first.frames.length} frames`);
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

    const again = await generate(page, { prompt: 'a red circle on a blue background', seed: 11, steps: STEPS });
    assert.equal(differingBytes(again.png.data, first.png.data), 0, 'same seed, different pixels');
    const other = await generate(page, { prompt: 'a red circle on a blue background', seed: 12, steps: STEPS });
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
    await page.click('#about-summary');
    await page.click('#reset-gpu');
    await page.waitForFunction(() => document.getElementById('app').dataset.state !== 'busy', null, {
      timeout: 120_000,
    });
    assert.equal(await page.getAttribute('#app', 'data-state'), 'error');
    assert.match(await page.textContent('#error'), /The GPU stopped during the generation/);

    const again = await generate(page, { prompt: 'a purple triangle, centre', seed: 5, steps: 2 });
    assert.deepEqual(again.steps, [1, 2]);
    assert.ok(again.frames.length >= 1);
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

