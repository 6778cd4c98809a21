// The visualizer (#/visualize), driven as a reader drives it: the Noise
// level slider shows the forward process (more noise, further from the
// image; the same seed, the same noise after a reload from the address),
// Restore runs the model back from that level with every step drawn,
// scrubbing shows exactly the bytes each step drew without sending the
// engine anything, the keyboard scrubs, and a link reopens the same view.
// Mostly on the CPU engine (a step there is a fraction of a second); the
// forward process and a short restore on WebGPU (SwiftShader) too.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  servePage, openBrowser, webgpuFlags, noWebgpuFlags, assertNoError, differingBytes, waitForEngine,
  pressGenerate, settledCanvasPixels,
} from './harness.mjs';

let server;
before(async () => {
  server = await servePage();
});
after(async () => {
  await server?.close();
});

/**
 * Opens the visualizer at `view` (the address after `#/visualize?`) in a
 * fresh browser. Every message the page posts to the engine is counted in
 * `window.sculptPosted`, and every picture the Noisy image canvas is given
 * (each change of its data-t, set as it is drawn) is kept in
 * `window.sculptNoisy` with the Step slider's value then.
 */
async function openVisualizer(flags, view) {
  const browser = await openBrowser({ flags });
  await browser.page.addInitScript(() => {
    window.sculptPosted = [];
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (message, ...rest) {
      window.sculptPosted.push(message?.type);
      return post.call(this, message, ...rest);
    };
  });
  await browser.page.goto(`${server.url}#/visualize?${view}`);
  await watchNoisy(browser.page);
  return browser;
}

async function watchNoisy(page) {
  await page.waitForSelector('#vis-noisy');
  await page.evaluate(() => {
    const canvas = document.getElementById('vis-noisy');
    window.sculptNoisy = [];
    new MutationObserver(() => {
      const context = canvas.getContext('2d');
      const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
      window.sculptNoisy.push({
        t: canvas.dataset.t,
        step: Number(document.getElementById('vis-step').value),
        data: Array.from(data),
      });
    }).observe(canvas, { attributes: true, attributeFilter: ['data-t'] });
  });
}

/** The pixels a canvas of the page holds (the visualizer draws them itself). */
function pixels(page, id) {
  return page.$eval(`#${id}`, (canvas) => {
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    return Array.from(data);
  });
}

/** Waits until the Noisy image shows noise level `t` (two decimals), then reads it. */
async function noisyAt(page, t, timeout = 120_000) {
  await page.waitForFunction(
    (t) => document.getElementById('vis-noisy').dataset.t === t
      && document.getElementById('visualize').dataset.run !== 'noising',
    t,
    { timeout },
  );
  await assertNoError(page);
  return pixels(page, 'vis-noisy');
}

/** Mean absolute difference of the colour channels. */
function distance(a, b) {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    if (i % 4 === 3) continue;
    sum += Math.abs(a[i] - b[i]);
    count++;
  }
  return sum / count;
}

/** Presses Restore and waits for the run to end; returns the pictures drawn meanwhile. */
async function restore(page, timeout = 240_000) {
  await page.evaluate(() => {
    window.sculptNoisy.length = 0;
  });
  const section = page.locator('#visualize');
  await section.getByRole('button', { name: 'Restore' }).click();
  await page.waitForFunction(() => document.getElementById('visualize').dataset.run === 'done', null, {
    timeout,
  });
  await assertNoError(page);
  return page.evaluate(() => window.sculptNoisy.slice());
}

async function setNoise(page, t) {
  await page.locator('#visualize').getByRole('slider', { name: 'Noise level' }).fill(String(t));
}

test('the forward process: more noise is further from the image, and the address brings back the same noise (CPU engine)', async () => {
  const { page, problems, close } = await openVisualizer(noWebgpuFlags, 'image=circle&seed=7&t=0.3');
  try {
    const original = await pixels(page, 'vis-original');
    const d = {};
    const noisy = {};
    noisy[0.3] = await noisyAt(page, '0.30');
    for (const t of [0.6, 1, 0]) {
      await setNoise(page, t);
      noisy[t] = await noisyAt(page, t.toFixed(2));
    }
    for (const t of [0, 0.3, 0.6, 1]) d[t] = distance(noisy[t], original);
    assert.ok(d[0] < d[0.3] && d[0.3] < d[0.6] && d[0.6] < d[1],
      `distance from the image at t = 0, 0.3, 0.6, 1: ${JSON.stringify(d)}`);
    assert.ok(d[0] < 8, `at t = 0 the image only passes through the autoencoder: ${d[0]}`);
    assert.ok(d[1] > 30, `at t = 1 it is noise: ${d[1]}`);

    // The address holds the view: a reload shows the same noise.
    await setNoise(page, 0.6);
    await noisyAt(page, '0.60');
    assert.match(page.url(), /#\/visualize\?.*seed=7.*t=0\.60/);
    await page.reload();
    const again = await noisyAt(page, '0.60');
    assert.equal(differingBytes(again, noisy[0.6]), 0, 'the same seed and level give the same noisy pixels');

    // Another seed, other noise.
    await page.locator('#visualize').getByRole('spinbutton', { name: 'Seed' }).fill('8');
    await page.locator('#vis-seed').dispatchEvent('change');
    await page.waitForFunction(() => /seed=8/.test(location.hash));
    const { data: otherSeed } = await settledCanvasPixels(
      page, '#vis-noisy', ({ data }) => differingBytes(data, noisy[0.6]) > 1000, 60_000,
    );
    assert.ok(differingBytes(otherSeed, noisy[0.6]) > 1000, 'seed 8 draws other noise');

    // A drawing: a stroke across the pad becomes the image to noise.
    await page.locator('#vis-draw summary').click();
    const pad = await page.locator('#vis-sketch').boundingBox();
    await page.mouse.move(pad.x + pad.width * 0.2, pad.y + pad.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(pad.x + pad.width * 0.8, pad.y + pad.height * 0.5, { steps: 8 });
    await page.mouse.up();
    const drawing = await pixels(page, 'vis-sketch');
    const inked = drawing.filter((value, i) => i % 4 === 2 && value < 100).length;
    assert.ok(inked > 50, `the stroke is on the pad (${inked} yellow pixels)`);
    await page.getByRole('button', { name: 'Use this drawing' }).click();
    const { data: drawn } = await settledCanvasPixels(
      page, '#vis-original', ({ data }) => differingBytes(data, drawing) === 0, 60_000,
    );
    assert.equal(differingBytes(drawn, drawing), 0, 'the drawing is the image');

    // At a phone's width nothing sticks out sideways.
    await page.setViewportSize({ width: 390, height: 800 });
    const overflow = await page.evaluate(() => [
      document.documentElement.scrollWidth,
      ...[...document.querySelectorAll('#visualize *')]
        .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 1)
        .map((element) => element.id || element.tagName),
    ]);
    assert.deepEqual(overflow, [390], 'the page is no wider than the phone');
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
});

test('restoring: every step drawn, scrubbing redraws the same bytes with no engine work, the keyboard scrubs and a link reopens the step (CPU engine)', async () => {
  const { page, problems, close } = await openVisualizer(
    noWebgpuFlags,
    'image=circle&seed=7&t=0.3&steps=8',
  );
  try {
    const section = page.locator('#visualize');
    const original = await pixels(page, 'vis-original');
    const noised = await noisyAt(page, '0.30');

    // From t = 0.3: the steps of the schedule below 0.3.
    const fromLow = await restore(page);
    const lowSteps = Number(await page.getAttribute('#visualize', 'data-steps-drawn'));
    assert.ok(lowSteps >= 1 && lowSteps < 8, `steps from t = 0.3: ${lowSteps}`);
    assert.equal(fromLow.length, lowSteps + 1, 'the start and every step are drawn');
    const restoredLow = await pixels(page, 'vis-noisy');
    assert.ok(distance(restoredLow, original) < distance(noised, original),
      'restoring brings the noisy image nearer the original');

    // From t = 1 (pure noise: text-to-image), all 8 steps; the button
    // reads Cancel while it runs.
    await setNoise(page, 1);
    await noisyAt(page, '1.00');
    await page.evaluate(() => {
      window.sculptNoisy.length = 0;
    });
    await section.getByRole('button', { name: 'Restore' }).click();
    await section.getByRole('button', { name: 'Cancel' }).waitFor({ timeout: 10_000 });
    await page.waitForFunction(() => document.getElementById('visualize').dataset.run === 'done', null, {
      timeout: 240_000,
    });
    await assertNoError(page);
    const fromNoise = await page.evaluate(() => window.sculptNoisy.slice());
    assert.equal(fromNoise.length, 9, 'the start and 8 steps drawn');
    assert.deepEqual(fromNoise.map((frame) => frame.step), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(await page.getAttribute('#vis-step', 'max'), '8', 'the Step slider ends at the last step');
    const restoredHigh = await pixels(page, 'vis-noisy');
    assert.equal(differingBytes(restoredHigh, fromNoise[8].data), 0, 'the Noisy image shows the restored image');
    assert.ok(distance(restoredLow, original) < distance(restoredHigh, original),
      `from 0.3 lands nearer the original (${distance(restoredLow, original)}) than from 1 (${distance(restoredHigh, original)})`);
    for (let i = 1; i < fromNoise.length; i++) {
      assert.ok(differingBytes(fromNoise[i].data, fromNoise[i - 1].data) > 0, `step ${i} changed the image`);
    }

    // Scrubbing: the bytes drawn when each step was computed, and nothing
    // sent to the engine.
    const posted = await page.evaluate(() => window.sculptPosted.length);
    const slider = section.getByRole('slider', { name: 'Step' });
    for (const step of [3, 0, 8, 5, 1]) {
      await slider.fill(String(step));
      const shown = await pixels(page, 'vis-noisy');
      assert.equal(differingBytes(shown, fromNoise[step].data), 0,
        `step ${step}: ${fromNoise.map((frame) => differingBytes(shown, frame.data))} ${await slider.inputValue()} ${await page.textContent('#vis-step-value')}`);
      const clean = await page.getAttribute('#vis-clean', 'data-empty');
      assert.equal(clean === null, step > 0, `step ${step}: a predicted clean image exactly after a step`);
    }
    // The keyboard: arrows and Home on the focused slider.
    await slider.focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await slider.inputValue(), '2');
    assert.equal(differingBytes(await pixels(page, 'vis-noisy'), fromNoise[2].data), 0, 'ArrowRight: step 2');
    await page.keyboard.press('Home');
    assert.equal(differingBytes(await pixels(page, 'vis-noisy'), fromNoise[0].data), 0, 'Home: the start');
    // The schedule plot: a click on a point goes to its step.
    await page.locator('#vis-schedule circle[data-step="6"]').click();
    assert.equal(await slider.inputValue(), '6');
    assert.equal(differingBytes(await pixels(page, 'vis-noisy'), fromNoise[6].data), 0, 'plot: step 6');
    // Look inside: the latent's channels as tiles, and the path through
    // every point of the run.
    await section.getByText('Look inside').click();
    await slider.fill('0');
    assert.equal(await page.getAttribute('#vis-latent-noisy', 'data-empty'), null, 'the start has a latent');
    assert.equal(await page.getAttribute('#vis-latent-clean', 'data-empty'), '', 'nothing is predicted at the start');
    // 16 channels of 8 × 8 in a 4 × 4 grid with 1-pixel gaps.
    assert.deepEqual(await page.$eval('#vis-latent-noisy', (c) => [c.width, c.height]), [35, 35]);
    await slider.fill('3');
    assert.equal(await page.getAttribute('#vis-latent-clean', 'data-empty'), null);
    assert.equal(await page.locator('#vis-path circle').count(), 9, 'one point per point of the run');
    assert.equal(await page.getAttribute('#vis-path circle.current', 'data-step'), '3');
    const bend = Number(await page.getAttribute('#vis-path', 'data-bend'));
    assert.ok(bend >= 1, `a path is never shorter than the line between its ends: ${bend}`);
    assert.match(await page.textContent('#vis-path-note'), /longer than the straight line/);
    assert.equal(await page.evaluate(() => window.sculptPosted.length), posted, 'scrubbing sent the engine nothing');

    // The link: the same view, computed again, on the same step.
    await slider.fill('4');
    const link = page.url();
    assert.match(link, /#\/visualize\?.*t=1\.00.*step=4/);
    const other = await page.context().newPage();
    await other.goto(link);
    await other.waitForFunction(() => document.getElementById('visualize').dataset.run === 'done', null, {
      timeout: 240_000,
    });
    assert.equal(await other.inputValue('#vis-step'), '4');
    assert.equal(differingBytes(await pixels(other, 'vis-noisy'), fromNoise[4].data), 0, 'the link shows the same step 4');
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
});

test('compare: two runs from one seed with different steps start from the same noise and scrub together; the implied noise (CPU engine)', async () => {
  const { page, problems, close } = await openVisualizer(
    noWebgpuFlags,
    'image=star&seed=11&t=1&steps=4&compare=steps&with=8&prediction=noise',
  );
  try {
    // A reader who asks for less motion: nothing plays by itself.
    await page.emulateMedia({ reducedMotion: 'reduce' });
    await noisyAt(page, '1.00');
    assert.equal(await page.inputValue('#vis-compare'), 'steps', 'the address chose what to compare');
    await restore(page);
    await page.waitForTimeout(1_000);
    assert.equal(await page.getAttribute('#vis-play', 'aria-pressed'), 'false', 'no autoplay');
    assert.equal(await page.getAttribute('#visualize', 'data-steps-drawn'), '4');
    assert.equal(await page.getAttribute('#visualize', 'data-b-steps-drawn'), '8');
    assert.equal(await page.textContent('#vis-b-title'), 'Run B: 8 steps');
    assert.ok(await page.isVisible('#vis-run-b'));
    const slider = page.locator('#visualize').getByRole('slider', { name: 'Step' });
    assert.equal(await slider.getAttribute('max'), '8', 'the slider counts the longer run');
    assert.equal(await slider.inputValue(), '8', 'the view rests on the end');
    // One seed: the same noise at the start of both.
    await slider.fill('0');
    const a0 = await pixels(page, 'vis-noisy');
    const b0 = await pixels(page, 'vis-b-noisy');
    assert.equal(differingBytes(a0, b0), 0, 'both runs start from identical noise');
    // The Prediction shows the implied noise (the address chose it): at the
    // first step from pure noise that is the start noise itself.
    assert.equal(await page.inputValue('#vis-prediction-kind'), 'noise');
    await slider.fill('1');
    const implied = await pixels(page, 'vis-b-prediction');
    const worst = implied.reduce((most, value, i) => Math.max(most, Math.abs(value - b0[i])), 0);
    assert.ok(worst <= 2, `ε̂ at t = 1 draws the start noise (worst channel off by ${worst})`);
    // Matched by noise level: half way through B (t of its step 4), A has
    // taken the steps its schedule had by then; at the end both are done.
    await slider.fill('8');
    const aEnd = await pixels(page, 'vis-noisy');
    const bEnd = await pixels(page, 'vis-b-noisy');
    assert.equal(await page.getAttribute('#vis-noisy', 'data-t'), '0.00');
    assert.equal(await page.getAttribute('#vis-b-noisy', 'data-t'), '0.00');
    assert.ok(differingBytes(aEnd, bEnd) > 0, '4 and 8 steps end on different images');
    await slider.fill('4');
    const tB = Number(await page.getAttribute('#vis-b-noisy', 'data-t'));
    const tA = Number(await page.getAttribute('#vis-noisy', 'data-t'));
    assert.ok(tA >= tB && tA < 1, `A is shown at the point it had reached by B's t: A ${tA}, B ${tB}`);
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
});

test('the generator starts from an image (strength is the noise level) and hands images to the visualizer (CPU engine)', async () => {
  const { page, problems, close } = await openBrowser({ flags: noWebgpuFlags });
  try {
    await page.goto(server.url);
    await waitForEngine(page);
    const generateWith = async (seed, steps) => {
      await page.fill('#prompt', 'a red circle in the centre on a blue background');
      await page.fill('#steps', String(steps));
      await page.fill('#seed', String(seed));
      return pressGenerate(page);
    };
    const start = await generateWith(5, 3);
    const fromNoise = await generateWith(9, 4);
    // The first image of the history (the newest is first).
    await page.locator('#history li').nth(1).getByRole('button', { name: 'Start from this' }).click();
    await page.waitForFunction(() => !document.getElementById('start-preview').hidden);
    await page.getByRole('slider', { name: 'Strength' }).fill('0.3');
    const fromImage = await generateWith(9, 4);
    const distance = (a, b) => a.data.reduce((sum, value, i) => sum + Math.abs(value - b.data[i]), 0);
    assert.ok(distance(fromImage, start) < distance(fromNoise, start),
      `strength 0.3 keeps the start image: ${distance(fromImage, start)} vs ${distance(fromNoise, start)} from noise`);
    assert.ok(differingBytes(fromImage.data, start.data) > 0, 'and still repaints some of it');

    // "See it in the visualizer": the same image, noise level and seed.
    await page.getByRole('link', { name: 'See it in the visualizer' }).click();
    await page.waitForFunction(() => location.hash.startsWith('#/visualize'));
    await noisyAt(page, '0.30');
    assert.equal(await page.inputValue('#vis-seed'), '9');
    assert.equal(differingBytes(await pixels(page, 'vis-original'), start.data), 0, 'the start image itself');

    // "Visualize" on an image of the history.
    await page.getByRole('navigation').getByRole('link', { name: 'Generate', exact: true }).click();
    await page.locator('#history li').first().getByRole('button', { name: 'Visualize' }).click();
    await page.waitForFunction(() => location.hash.startsWith('#/visualize'));
    await page.waitForFunction(() => document.getElementById('visualize').dataset.run === 'idle', null, { timeout: 60_000 });
    assert.equal(differingBytes(await pixels(page, 'vis-original'), fromImage.data), 0, 'the newest image of the history');
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
});

test('the visualizer on WebGPU: forward noise grows with t, and a short restore draws every step', async () => {
  const { page, problems, close } = await openVisualizer(webgpuFlags, 'image=star&seed=3&t=0.3&steps=4');
  try {
    const original = await pixels(page, 'vis-original');
    const low = await noisyAt(page, '0.30', 180_000);
    await setNoise(page, 0.9);
    const high = await noisyAt(page, '0.90');
    assert.ok(distance(low, original) < distance(high, original),
      `t = 0.3: ${distance(low, original)}, t = 0.9: ${distance(high, original)}`);
    await setNoise(page, 0.3);
    await noisyAt(page, '0.30');
    const drawn = await restore(page);
    const steps = Number(await page.getAttribute('#visualize', 'data-steps-drawn'));
    assert.ok(steps >= 1, `steps: ${steps}`);
    assert.equal(drawn.length, steps + 1);
    assert.ok(distance(drawn.at(-1).data, original) < distance(low, original), 'restored nearer the image');
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
});
