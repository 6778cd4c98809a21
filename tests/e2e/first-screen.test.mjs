// The first screen as a newcomer meets it: a plain status line, an empty
// canvas (no test pattern, no diagnostics), navigation between the
// surfaces; and a typed seed is the seed used, with nothing to tick.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  servePage, openBrowser, waitForEngine, canvasPixels, pressGenerate, differingBytes, showSurface, tabTo,
} from './harness.mjs';

let server;
before(async () => {
  server = await servePage();
});
after(async () => {
  await server?.close();
});

test('the first screen shows a plain status, an empty square canvas and no diagnostics', async () => {
  const browser = await openBrowser();
  try {
    const { page, problems } = browser;
    await page.goto(server.url);
    await waitForEngine(page);

    assert.equal(await page.textContent('#status'), 'Ready: type a prompt and press Generate.');
    const visible = await page.locator('main').innerText();
    assert.doesNotMatch(visible, /Drew phase|swiftshader| in [\d.]+ ms/i);
    // No test pattern: the canvas is square and nothing has been drawn on it.
    const { width, height, data } = await canvasPixels(page, '#frame');
    assert.equal(width, height);
    assert.equal(data.filter((byte) => byte !== 0).length, 0, 'the canvas shows something before any Generate');
    assert.equal(await page.getAttribute('#frame', 'data-phase'), null);
    // The self-test waits, closed, under "About this device".
    assert.equal(await page.$eval('#about', (panel) => panel.open), false);
    assert.equal(await page.textContent('#selftest-result'), '');

    // A labeled navigation, by keyboard: Generate is shown, Visualize and
    // Models a press away.
    const nav = page.getByRole('navigation', { name: 'Sculpt' });
    assert.deepEqual(await nav.getByRole('link').allTextContents(), ['Generate', 'Visualize', 'Models']);
    assert.equal(await nav.getByRole('link', { name: 'Generate' }).getAttribute('aria-current'), 'page');
    assert.equal(await page.isVisible('#generate-button'), true);
    assert.equal(await page.isVisible('#import-files'), false);
    await page.evaluate(() => document.querySelector('#surfaces a[href="#models"]').focus());
    await page.keyboard.press('Enter');
    await page.waitForSelector('#import-files');
    assert.equal(await page.isVisible('#generate-button'), false);
    assert.equal(await nav.getByRole('link', { name: 'Models' }).getAttribute('aria-current'), 'page');
    // The visualizer keeps its view after "#/visualize?" and is still the
    // Visualize link's surface.
    await page.evaluate(() => document.querySelector('#surfaces a[href="#/visualize"]').focus());
    await page.keyboard.press('Enter');
    await page.waitForSelector('#vis-noise');
    assert.equal(await nav.getByRole('link', { name: 'Visualize' }).getAttribute('aria-current'), 'page');
    assert.equal(await page.isVisible('#import-files'), false);
    await page.waitForFunction(() => /^#\/visualize\?.*image=/.test(location.hash));
    assert.equal(await nav.getByRole('link', { name: 'Visualize' }).getAttribute('aria-current'), 'page');
    await showSurface(page, 'Generate');
    await page.waitForSelector('#generate-button');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('a typed seed is used: Generate twice without ticking anything gives the same pixels', async () => {
  const browser = await openBrowser();
  try {
    const { page, problems } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    assert.equal(await page.isChecked('#new-seed'), true, 'a first visit draws a new seed each time');

    await page.fill('#prompt', 'a red circle on a blue background');
    await page.fill('#steps', '1');
    // Typed as a person would; nothing else is touched.
    await tabTo(page, 'seed');
    await page.keyboard.type('4242');
    assert.equal(await page.isChecked('#new-seed'), false, 'typing a seed left "New seed each time" on');

    const first = await pressGenerate(page);
    const second = await pressGenerate(page);
    assert.equal(first.name, 'sculpt-4242.png');
    assert.equal(second.name, 'sculpt-4242.png');
    assert.equal(differingBytes(first.data, second.data), 0, 'the typed seed gave two different images');
    assert.equal(await page.inputValue('#seed'), '4242');
    assert.match(await page.textContent('#progress'), /\(seed 4242\)/);
    const recorded = await page.locator('#history img').evaluateAll((images) => images.map((image) => image.alt));
    assert.equal(recorded.length, 2);
    for (const alt of recorded) assert.match(alt, /\(seed 4242, 1 steps\)/);

    // The dice puts a fresh seed in the field, to be used as typed.
    await page.click('#random-seed');
    const rolled = await page.inputValue('#seed');
    assert.match(rolled, /^\d+$/);
    assert.notEqual(rolled, '4242');
    assert.equal(await page.isChecked('#new-seed'), false);

    // An empty field asks for a random seed, shown in the field once used.
    await page.fill('#seed', '');
    const drawn = await pressGenerate(page);
    const shown = await page.inputValue('#seed');
    assert.match(shown, /^\d+$/);
    assert.equal(drawn.name, `sculpt-${shown}.png`);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('the page runs under its own strict Content-Security-Policy: no inline script runs', async () => {
  const browser = await openBrowser();
  try {
    const { page, problems } = browser;
    await page.addInitScript(() => {
      window.policyViolations = [];
      document.addEventListener('securitypolicyviolation', (event) => {
        window.policyViolations.push(`${event.violatedDirective}: ${event.blockedURI}`);
      });
    });
    await page.goto(server.url);
    await waitForEngine(page);
    assert.equal(
      await page.getAttribute('meta[http-equiv=Content-Security-Policy]', 'content'),
      "script-src 'self' 'wasm-unsafe-eval'",
    );
    assert.deepEqual(await page.evaluate(() => window.policyViolations), [], 'the page itself broke no rule');
    // The policy is in force: a script written into the page does not run.
    const ran = await page.evaluate(async () => {
      const script = document.createElement('script');
      script.textContent = 'window.injectedRan = true;';
      document.body.append(script);
      await new Promise((resolve) => setTimeout(resolve, 100));
      return window.injectedRan === true;
    });
    assert.equal(ran, false, 'an inline script ran');
    assert.deepEqual(await page.evaluate(() => window.policyViolations), ['script-src-elem: inline']);
    // The browser reports the refusal; nothing else went wrong.
    assert.deepEqual(problems.filter((problem) => !/Content Security Policy/.test(problem)), []);
  } finally {
    await browser.close();
  }
});
