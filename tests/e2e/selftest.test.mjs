// The first vertical slice: the engine, in its Web Worker, gets a WebGPU
// device through wgpu and draws the self-test image with the GPU straight
// into the page's canvas (an OffscreenCanvas); we read what the canvas shows
// and compare every byte with values computed here. The self-test is a
// diagnosis, under "About this device": it runs only when asked.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  servePage, openBrowser, settledCanvasPixels, waitForOfflineCopy, tabTo, waitForEngine,
} from './harness.mjs';

/**
 * The self-test image's expected bytes, worked out independently of the
 * kernel: value (k - 160) / 128 with k = (3x + 5(c+1)y + 70c + 7 phase) mod 300,
 * clamped to [-1, 1], scaled to [0, 255], rounded half up; alpha 255.
 */
function expectedPixels(width, height, phase) {
  const bytes = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) {
        const k = (3 * x + 5 * (c + 1) * y + 70 * c + 7 * phase) % 300;
        const value = Math.min(1, Math.max(-1, (k - 160) / 128));
        bytes[i + c] = Math.floor((value + 1) * 127.5 + 0.5);
      }
      bytes[i + 3] = 255;
    }
  }
  return bytes;
}

function sameBytes(data, want) {
  return data.length === want.length && data.every((byte, i) => byte === want[i]);
}

/** The canvas shows exactly the self-test frame for `phase`. */
async function assertFrame(page, phase) {
  // The expected frame is worked out at the size the canvas has when read:
  // the canvas takes the frame's size as the frame is drawn, so a size read
  // before then would be the empty canvas's.
  const expected = ({ width, height }) => expectedPixels(width, height, phase);
  const { width, height, data } = await settledCanvasPixels(page, '#frame', (pixels) =>
    sameBytes(pixels.data, expected(pixels)),
  );
  const want = expected({ width, height });
  assert.equal(data.length, want.length);
  for (let i = 0; i < want.length; i++) {
    if (data[i] !== want[i]) {
      const pixel = i >> 2;
      assert.fail(
        `phase ${phase}: pixel (${pixel % width}, ${Math.floor(pixel / width)}) channel ${i % 4}: ` +
          `canvas ${data[i]} != expected ${want[i]}`,
      );
    }
  }
}

let server;
before(async () => {
  server = await servePage();
});
after(async () => {
  await server?.close();
});

/** Opens "About this device" (closed by default), where the self-test is. */
async function openSelfTest(page) {
  if (!(await page.$eval('#about', (panel) => panel.open))) {
    await page.click('#about-summary');
  }
}

/** Draws the self-test pattern for `phase` through the panel. */
async function draw(page, phase) {
  await openSelfTest(page);
  await page.fill('#phase', String(phase));
  await page.click('#draw');
  await waitForPhase(page, phase);
}


async function waitForPhase(page, phase) {
  await page.waitForFunction(
    (phase) => document.getElementById('frame').dataset.phase === String(phase) ||
      document.getElementById('app').dataset.state === 'error',
    phase,
    { timeout: 60_000 },
  );
  const state = await page.getAttribute('#app', 'data-state');
  if (state === 'error') {
    assert.fail(`the page shows an error: ${await page.textContent('#error')}`);
  }
}

test('the GPU kernel draws exactly the expected pixels', async () => {
  const browser = await openBrowser();
  try {
    const { page, problems } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    await draw(page, 0);
    await assertFrame(page, 0);
    await draw(page, 3);
    await assertFrame(page, 3);
    assert.match(await page.textContent('#selftest-result'), /Drew phase 3 on .* in [\d.]+ ms/);
    // The diagnosis stays in its panel: the page's status line is for everyone.
    assert.doesNotMatch(await page.textContent('#status'), /Drew|phase/);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('the self-test works by keyboard alone', async () => {
  const browser = await openBrowser();
  try {
    const { page } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    // Tab to the panel and open it with Enter, Tab to the phase field, type,
    // Enter submits; then Tab to the button, Space draws.
    await tabTo(page, 'about-summary');
    await page.keyboard.press('Enter');
    await tabTo(page, 'phase');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('41');
    await page.keyboard.press('Enter');
    await waitForPhase(page, 41);
    await assertFrame(page, 41);

    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('7');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'draw');
    await page.keyboard.press('Space');
    await waitForPhase(page, 7);
    await assertFrame(page, 7);

    // Every control has a label a screen reader can announce.
    const unlabeled = await page.$$eval('input, button, select, textarea', (controls) =>
      controls.filter((c) => !(c.labels?.length || c.getAttribute('aria-label') || c.textContent.trim()))
        .map((c) => c.id));
    assert.deepEqual(unlabeled, []);
  } finally {
    await browser.close();
  }
});

test('bad input is reported in the page and keeps the last frame', async () => {
  const browser = await openBrowser();
  try {
    const { page } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    await draw(page, 0);
    // The number field's own validation stops the form; bypass it the way a
    // script or an older browser could, to reach the app's check.
    await page.$eval('#phase', (input) => {
      input.type = 'text';
      input.value = 'lots';
    });
    await page.click('#draw');
    await page.waitForSelector('#error:not([hidden])');
    assert.match(await page.textContent('#error'), /Pattern phase must be a whole number/);
    await assertFrame(page, 0);
  } finally {
    await browser.close();
  }
});

test('once loaded, the page keeps computing with the network off', async () => {
  const browser = await openBrowser();
  try {
    const { context, page } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    await context.setOffline(true);
    assert.equal(await page.evaluate(() => navigator.onLine), false);
    await openSelfTest(page);
    await page.fill('#phase', '12');
    await page.press('#phase', 'Enter');
    await waitForPhase(page, 12);
    await assertFrame(page, 12);
  } finally {
    await browser.close();
  }
});

test('after one visit the page loads and runs with the network off', async () => {
  const browser = await openBrowser();
  try {
    const { context, page, problems } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    // The service worker has copied the app once it is active.
    await waitForOfflineCopy(page);
    await context.setOffline(true);
    await page.reload();
    await waitForEngine(page);
    await openSelfTest(page);
    await page.fill('#phase', '5');
    await page.press('#phase', 'Enter');
    await waitForPhase(page, 5);
    await assertFrame(page, 5);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
