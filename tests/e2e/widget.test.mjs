// The blog widget, <sculpt-image>: a sample post on one loopback origin
// includes the widget from another, under the strictest policy the README
// documents; the iframe page; the CPU engine; cancel().

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { servePage, openBrowser, noWebgpuFlags, generate, waitForEngine } from './harness.mjs';

/** The Content-Security-Policy the README documents for a post that embeds the widget. */
const strictPolicy = (widgetOrigin) =>
  `script-src ${widgetOrigin} 'wasm-unsafe-eval'; worker-src ${widgetOrigin} blob:; connect-src ${widgetOrigin}`;

/** The stars' steps in the test's copy of the post. */
const STAR_STEPS = 3;
const starSteps = Array.from({ length: STAR_STEPS }, (_, i) => i + 1);

/** A post's careless CSS, which must not reach inside a widget. */
const hostileStyles =
  '<style>canvas, button, figure, figcaption { display: none !important; } img { width: 3px !important; }</style>';

let widgetFiles;
let post;
/** The star's pixels on WebGPU, for the iframe page to match. */
let starInPost;

before(async () => {
  // The widget's folder, as a CDN serves it.
  widgetFiles = await servePage(undefined, { headers: { 'access-control-allow-origin': '*' } });
  const widgetOrigin = new URL(widgetFiles.url).origin;
  // The blogger's site: the sample post, its script tag pointing at the widget's origin.
  post = await servePage(undefined, {
    headers: { 'content-security-policy': strictPolicy(widgetOrigin) },
    // Fewer steps than the post shows readers: SwiftShader takes seconds a step.
    rewrite: (pathname, body) =>
      pathname === '/widget-demo.html'
        ? body
          .toString()
          .replace('src="sculpt-widget.js"', `src="${widgetFiles.url}sculpt-widget.js"`)
          .replace('</head>', `${hostileStyles}</head>`)
          .replaceAll('steps="8"', `steps="${STAR_STEPS}"`)
          .replace('steps="10"', 'steps="2"')
        : body,
  });
});

after(async () => {
  await widgetFiles?.close();
  await post?.close();
});

/** Records every widget event, and every policy violation, from the first script on. */
function recordEvents() {
  window.sculptEvents = [];
  window.policyViolations = [];
  for (const type of ['load', 'progress', 'step', 'generated', 'error']) {
    document.addEventListener(type, (event) => {
      if (event.target?.localName !== 'sculpt-image') return;
      window.sculptEvents.push({ type, id: event.target.id, detail: event.detail });
    }, true);
  }
  document.addEventListener('securitypolicyviolation', (event) => {
    window.policyViolations.push(`${event.violatedDirective}: ${event.blockedURI}`);
  });
}

/** The events widget `id` sent so far, progress left out. */
async function eventsOf(page, id) {
  return page.evaluate(
    (id) => window.sculptEvents.filter((event) => event.id === id && event.type !== 'progress'),
    id,
  );
}

async function waitForEvent(page, id, type, timeout = 240_000) {
  await page.waitForFunction(
    ([id, type]) => window.sculptEvents.some((event) => event.id === id && (event.type === type || event.type === 'error')),
    [id, type],
    { timeout },
  );
  const events = await eventsOf(page, id);
  const error = events.find((event) => event.type === 'error');
  if (type !== 'error' && error) assert.fail(`${id} failed: ${error.detail.message}`);
  return events;
}

/** The RGBA bytes a widget's canvas holds. */
async function widgetPixels(page, id) {
  return page.evaluate((id) => {
    const canvas = document.getElementById(id).shadowRoot.querySelector('canvas[part=canvas]');
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    return { width: canvas.width, height: canvas.height, data: Array.from(data) };
  }, id);
}

/** The step events' numbers, and the event types in order with steps collapsed. */
function summarize(events) {
  const steps = events.filter((event) => event.type === 'step').map((event) => event.detail.step);
  const order = events.map((event) => event.type).filter((type, i, all) => type !== 'step' || all[i - 1] !== 'step');
  return { steps, order };
}

function distinctColours(data) {
  const colours = new Set();
  for (let i = 0; i < data.length; i += 4) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  return colours.size;
}

test('a post on another origin, under a strict policy: two widgets generate, the third waits below the fold', async () => {
  const browser = await openBrowser();
  const { page, problems } = browser;
  let dialogs = 0;
  page.on('dialog', (dialog) => {
    dialogs++;
    dialog.dismiss();
  });
  try {
    await page.addInitScript(recordEvents);
    await page.goto(`${post.url}widget-demo.html`);
    const star = await waitForEvent(page, 'star', 'generated');
    const again = await waitForEvent(page, 'star-again', 'generated');
    for (const events of [star, again]) {
      const { steps, order } = summarize(events);
      assert.deepEqual(order, ['load', 'step', 'generated'], 'load, then the steps, then generated');
      assert.deepEqual(steps, starSteps, 'one step event per step, in order');
      // SwiftShader renders WebGPU in software: the widget's engine picks the CPU by itself.
      assert.equal(events[0].detail.backend, 'cpu');
      const generated = events.at(-1).detail;
      assert.deepEqual([generated.seed, generated.width, generated.height], [7, 64, 64]);
      assert.ok(generated.ms > 0);
    }
    // The widget that ran first (either: both came into view at once) heard
    // the model's files arrive, one by one.
    const progress = await page.evaluate(() => window.sculptEvents
      .filter((event) => event.id.startsWith('star') && event.type === 'progress')
      .map((event) => event.detail.message));
    assert.ok(progress.includes('Starting the engine…'), progress.join(' | '));
    assert.ok(progress.some((message) => /^Fetching the model: file 7 of 7 \(\d+\.\d of 16\.6 MB\)…$/.test(message)), progress.join(' | '));
    const first = await widgetPixels(page, 'star');
    const second = await widgetPixels(page, 'star-again');
    assert.equal(first.width, 64);
    assert.ok(distinctColours(first.data) > 20, 'the canvas shows an image, not a flat colour');
    assert.deepEqual(first.data, second.data, 'same attributes, same pixels');
    starInPost = first.data;
    // The post's CSS hides every canvas, figure and button it has: not the widget's.
    const shown = await page.evaluate(() => {
      const root = document.getElementById('star').shadowRoot;
      const box = (selector) => root.querySelector(selector).getBoundingClientRect();
      return {
        canvas: box('canvas').width,
        replay: box('.replay').width,
        adopted: document.adoptedStyleSheets.length,
        styles: document.querySelectorAll('style').length,
      };
    });
    assert.equal(shown.canvas, 256, 'the canvas is shown at the widget\'s size');
    assert.ok(shown.replay > 0, 'the Replay button is shown');
    assert.deepEqual([shown.adopted, shown.styles], [0, 1], 'the widget added no styles to the post');

    // The widget far below the fold has not asked the engine for anything.
    assert.deepEqual(await eventsOf(page, 'yours'), [], 'no work before it is in view');
    assert.ok(page.workers().length <= 1, `one engine worker for the page, not ${page.workers().length}`);

    await page.locator('#yours').scrollIntoViewIfNeeded();
    const yours = await waitForEvent(page, 'yours', 'generated');
    assert.deepEqual(summarize(yours).order, ['load', 'step', 'generated']);
    assert.equal(page.workers().length, 1, 'still one engine worker, with three widgets');

    // A prompt that would be markup stays text.
    const before = await page.evaluate(() => document.getElementsByTagName('*').length);
    await page.evaluate(() => {
      const widget = document.createElement('sculpt-image');
      widget.id = 'injection';
      widget.setAttribute('loading', 'eager');
      widget.setAttribute('steps', '2');
      widget.setAttribute('seed', '1');
      widget.setAttribute('prompt', '<img src=x onerror=alert(1)>');
      document.querySelector('article').append(widget);
    });
    await waitForEvent(page, 'injection', 'generated');
    const injected = await page.evaluate(() => {
      const root = document.getElementById('injection').shadowRoot;
      return {
        caption: root.querySelector('[part=caption] .prompt').textContent,
        images: root.querySelectorAll('img:not([part=poster])').length,
      };
    });
    assert.equal(injected.caption, '<img src=x onerror=alert(1)>', 'the prompt is shown as text');
    assert.equal(injected.images, 0, 'no element was made from the prompt');
    assert.equal(await page.evaluate(() => document.getElementsByTagName('*').length), before + 1,
      'the host document gained the widget and nothing else');
    assert.equal(dialogs, 0, 'no script ran from the prompt');

    // A model address that does not exist: an error event, and words in the widget.
    await page.evaluate((url) => {
      const widget = document.createElement('sculpt-image');
      widget.id = 'bad-model';
      widget.setAttribute('loading', 'eager');
      widget.setAttribute('model', `${url}models/no-such-model/manifest.json`);
      widget.setAttribute('prompt', 'a red circle');
      widget.setAttribute('poster', `${url}samples/star.png`);
      document.querySelector('article').append(widget);
    }, widgetFiles.url);
    const bad = await waitForEvent(page, 'bad-model', 'error');
    const message = bad.find((event) => event.type === 'error').detail.message;
    assert.match(message, /no-such-model\/manifest\.json/, message);
    assert.match(message, /404/, message);
    const status = await page.evaluate(
      () => document.getElementById('bad-model').shadowRoot.querySelector('.status').textContent,
    );
    assert.equal(status, message, 'the widget shows the message');
    const poster = await page.evaluate(() => {
      const poster = document.getElementById('bad-model').shadowRoot.querySelector('[part=poster]');
      return { hidden: poster.hidden, loaded: poster.complete && poster.naturalWidth };
    });
    assert.deepEqual(poster, { hidden: false, loaded: 64 }, 'where nothing can run, the poster shows');

    // A value the widget does not know is refused in words, not guessed at.
    await page.evaluate(() => {
      const widget = document.createElement('sculpt-image');
      widget.id = 'bad-preview';
      widget.setAttribute('loading', 'eager');
      widget.setAttribute('preview', 'sometimes');
      widget.setAttribute('prompt', 'a red circle');
      document.querySelector('article').append(widget);
    });
    const refused = await waitForEvent(page, 'bad-preview', 'error');
    assert.match(refused.find((event) => event.type === 'error').detail.message,
      /preview must be fast or full, not "sometimes"/);

    assert.deepEqual(await page.evaluate(() => window.policyViolations), [], 'nothing broke the policy');
    // The browser logs the missing model's 404; nothing else went wrong.
    assert.deepEqual(problems.filter((problem) => !/status of 404/.test(problem)), []);
  } finally {
    await browser.close();
  }
});

test('the iframe page takes its settings from its address and makes the same image', async () => {
  const browser = await openBrowser();
  const { page, problems } = browser;
  try {
    await page.addInitScript(recordEvents);
    const prompt = 'a yellow star on a blue background';
    await page.goto(`${widgetFiles.url}widget.html?prompt=${encodeURIComponent(prompt)}&seed=7&steps=${STAR_STEPS}`);
    const events = await waitForEvent(page, 'image', 'generated');
    assert.deepEqual(summarize(events).steps, starSteps);
    assert.equal(await page.title(), `Sculpt: ${prompt}`);
    const pixels = await widgetPixels(page, 'image');
    assert.ok(starInPost, 'the post test ran first');
    assert.deepEqual(pixels.data, starInPost, 'the iframe page draws what the widget in the post drew');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

/** What the first generation fetches: the engine's script and wasm, and the built-in model's files. */
async function firstRunBytes() {
  const dist = process.env.SCULPT_DIST;
  const manifest = JSON.parse(await readFile(path.join(dist, 'models/sculpt-tiny/manifest.json'), 'utf8'));
  const model = Object.values(manifest.files).reduce((sum, file) => sum + file.bytes, 0);
  const engine = (await stat(path.join(dist, 'sculpt-worker.js'))).size + (await stat(path.join(dist, 'sculpt-worker_bg.wasm'))).size;
  return model + engine;
}

/** Adds a widget at the top of the post (in view), with these attributes. */
async function addWidget(page, id, attributes) {
  await page.evaluate(([id, attributes]) => {
    const widget = document.createElement('sculpt-image');
    widget.id = id;
    for (const [name, value] of Object.entries(attributes)) widget.setAttribute(name, value);
    document.querySelector('article').prepend(widget);
    window.scrollTo(0, 0);
  }, [id, attributes]);
}

const statusOf = (page, id) =>
  page.evaluate((id) => document.getElementById(id).shadowRoot.querySelector('.status').textContent, id);

const stepsOf = async (page, id) => (await eventsOf(page, id)).filter((event) => event.type === 'step').length;

test('without WebGPU: the CPU engine, click to start, Replay, new attributes, pauses out of view and in a hidden tab, cancel(), and the generator page\'s pixels', async () => {
  const browser = await openBrowser({ flags: noWebgpuFlags });
  const { page, problems } = browser;
  try {
    await page.addInitScript(recordEvents);
    // loading="click" on a fresh page: a button that says what the first run downloads, and no work before it.
    await page.goto(`${widgetFiles.url}widget.html?loading=click&prompt=a+green+square&steps=2&seed=5`);
    const start = page.locator('#image button[part=start]');
    await page.waitForFunction(
      () => /downloads/.test(document.getElementById('image').shadowRoot.querySelector('[part=start]').textContent),
    );
    assert.equal(await start.textContent(), `Generate (downloads ${(await firstRunBytes() / 1e6).toFixed(0)} MB)`);
    assert.deepEqual(await eventsOf(page, 'image'), [], 'nothing runs before the click');
    assert.equal(page.workers().length, 0, 'no engine before the click');
    await start.click();
    await waitForEvent(page, 'image', 'generated');

    await page.goto(`${post.url}widget-demo.html`);
    const star = await waitForEvent(page, 'star', 'generated');
    assert.equal(star[0].type, 'load');
    assert.equal(star[0].detail.backend, 'cpu');
    assert.deepEqual(summarize(star).steps, starSteps);
    const widget = await widgetPixels(page, 'star');
    await waitForEvent(page, 'star-again', 'generated');

    // Replay (controls="minimal", the default) makes the same image again, step by step.
    const replay = page.locator('#star button.replay');
    await page.waitForFunction(
      () => document.getElementById('star').shadowRoot.querySelector('.replay').textContent === 'Replay',
    );
    await replay.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(
      () => window.sculptEvents.filter((event) => event.id === 'star' && event.type === 'generated').length === 2,
      null, { timeout: 60_000 },
    );
    assert.deepEqual(summarize(await eventsOf(page, 'star')).steps, [...starSteps, ...starSteps]);
    assert.deepEqual((await widgetPixels(page, 'star')).data, widget.data, 'a replay draws the same image');

    // Attributes changed together make one new image.
    await page.evaluate(() => {
      const star = document.getElementById('star');
      star.seed = 8;
      star.prompt = 'a yellow star on a red background';
    });
    await page.waitForFunction(
      () => window.sculptEvents.filter((event) => event.id === 'star' && event.type === 'generated').length === 3,
      null, { timeout: 60_000 },
    );
    await page.waitForTimeout(300);
    const changed = await eventsOf(page, 'star');
    assert.equal(changed.at(-1).detail.seed, 8);
    assert.equal(changed.filter((event) => event.type === 'generated').length, 3, 'one image for the two changes');
    assert.equal(summarize(changed).steps.length, 3 * STAR_STEPS, 'and its steps alone');
    assert.notDeepEqual((await widgetPixels(page, 'star')).data, widget.data, 'another seed, another image');

    // loading="click" once the model is loaded: nothing left to download.
    await addWidget(page, 'on-click', { loading: 'click', prompt: 'a green square', steps: '2', seed: '5' });
    const startLoaded = page.locator('#on-click button[part=start]');
    await startLoaded.waitFor();
    assert.equal(await startLoaded.textContent(), 'Generate');
    await page.waitForTimeout(300);
    assert.deepEqual(await eventsOf(page, 'on-click'), [], 'nothing runs before the click');
    await startLoaded.click();
    await waitForEvent(page, 'on-click', 'generated');

    // Scrolled out of view, a lazy widget's generation pauses; back in view, it goes on.
    await addWidget(page, 'paused', { prompt: 'a blue square', steps: '40', seed: '2' });
    await page.waitForFunction(
      () => window.sculptEvents.filter((event) => event.id === 'paused' && event.type === 'step').length >= 2,
      null, { timeout: 60_000 },
    );
    // Between the post's widgets: none is in view.
    await page.evaluate(() => window.scrollTo(0, document.getElementById('further').offsetTop - innerHeight - 300));
    await page.waitForTimeout(1500);
    const pausedAt = await stepsOf(page, 'paused');
    await page.waitForTimeout(1500);
    assert.equal(await stepsOf(page, 'paused'), pausedAt, 'no step ran while it was out of view');
    assert.ok(pausedAt < 40);
    await page.evaluate(() => window.scrollTo(0, 0));
    const paused = await waitForEvent(page, 'paused', 'generated');
    assert.deepEqual(summarize(paused).steps, Array.from({ length: 40 }, (_, i) => i + 1));

    // A hidden tab pauses every widget (headless tabs are never hidden: the page is told so).
    await addWidget(page, 'hidden-tab', { loading: 'eager', prompt: 'a blue square', steps: '40', seed: '4' });
    await page.waitForFunction(
      () => window.sculptEvents.filter((event) => event.id === 'hidden-tab' && event.type === 'step').length >= 2,
      null, { timeout: 60_000 },
    );
    const setHidden = (hidden) => page.evaluate((hidden) => {
      if (hidden) Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      else delete document.hidden;
      document.dispatchEvent(new Event('visibilitychange'));
    }, hidden);
    await setHidden(true);
    await page.waitForTimeout(1500);
    const hiddenAt = await stepsOf(page, 'hidden-tab');
    await page.waitForTimeout(1500);
    assert.equal(await stepsOf(page, 'hidden-tab'), hiddenAt, 'no step ran while the tab was hidden');
    await setHidden(false);
    await waitForEvent(page, 'hidden-tab', 'generated');

    // cancel(): the step in progress ends, no other follows, and no image is finished.
    await addWidget(page, 'cancelled', { loading: 'eager', prompt: 'a red square', steps: '60' });
    await page.evaluate(() => {
      const widget = document.getElementById('cancelled');
      widget.addEventListener('step', () => widget.cancel(), { once: true });
    });
    await page.waitForFunction(
      () => /Stopped after/.test(document.getElementById('cancelled').shadowRoot.querySelector('.status').textContent),
      null, { timeout: 60_000 },
    );
    const steps = await stepsOf(page, 'cancelled');
    assert.ok(steps >= 1 && steps <= 2, `${steps} steps ran after cancel()`);
    assert.match(await statusOf(page, 'cancelled'), new RegExp(`Stopped after ${steps} of 60 steps`));
    assert.ok(!(await eventsOf(page, 'cancelled')).some((event) => event.type === 'generated'));

    // The generator page, same prompt, seed and steps, same backend: the same pixels.
    await page.goto(widgetFiles.url);
    await waitForEngine(page);
    const { png } = await generate(page, { prompt: 'a yellow star on a blue background', seed: 7, steps: STAR_STEPS });
    assert.deepEqual(widget.data, png.data, 'the generator page made the same pixels');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
