// Importing FLUX weights in the page: files chosen in the file picker are
// sorted into roles and planned before anything is stored, stored in
// IndexedDB in checked chunks, generated with, still there (and usable
// offline) after a reload; a damaged chunk is found, a full quota leaves the
// store consistent and the import resumes, and deleting frees the space.
//
// The checkpoint is the built-in model's own files without their manifest:
// a FLUX transformer as GGUF (Q8_0) and the autoencoder, CLIP and T5 as
// safetensors, all under the public (BFL / Hugging Face) tensor names, plus
// the two tokenizer.json files. Imported this way the page knows nothing of
// the manifest: roles and configurations come from the headers alone.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  servePage, openBrowser, waitForOfflineCopy, waitForEngine, assertNoError, generate, differingBytes, showSurface,
} from './harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const modelDir = path.join(root, 'models', 'sculpt-tiny');
const FILES = [
  'transformer.gguf',
  'autoencoder.safetensors',
  'clip.safetensors',
  't5.safetensors',
  'clip-tokenizer.json',
  't5-tokenizer.json',
  // Not part of a model: left out, and said so.
  'MODEL.md',
].map((name) => path.join(modelDir, name));
const NAME = 'tiny-flux';

let server;
before(async () => {
  server = await servePage();
});
after(async () => {
  await server?.close();
});

/** Waits until the engine has answered the last request. */
async function waitUntilIdle(page, timeout = 120_000) {
  await page.waitForFunction(
    () => document.getElementById('app').dataset.state !== 'busy',
    null,
    { timeout },
  );
}

async function chooseFiles(page) {
  await page.setInputFiles('#import-files', FILES);
  await page.waitForSelector('#import-verdict', { timeout: 60_000 });
  await waitUntilIdle(page);
}

async function importAs(page, name) {
  await page.fill('#import-name', name);
  await page.click('#import-button');
  await waitUntilIdle(page);
}

/** The model's entry in the list: its state attribute and text. */
async function listed(page, name) {
  const item = page.locator(`#stored-models li[data-model="${name}"]`);
  if ((await item.count()) === 0) return null;
  return { state: await item.getAttribute('data-state'), text: await item.textContent() };
}

/** Generates 2 steps with `model`; returns the downloaded PNG's pixels. */
async function generateWith(page, model, seed) {
  await showSurface(page, 'Generate');
  await page.selectOption('#model', model);
  const { steps, frames, png } = await generate(page, { prompt: 'a red circle on a blue background', seed, steps: 2 });
  assert.deepEqual(steps, [1, 2], 'one frame per step');
  assert.ok(frames.length >= 1, 'the canvas never changed');
  return png;
}

/** Chunk keys and bytes held in IndexedDB for `model`, read behind the page's back. */
async function storedChunks(page, model) {
  return page.evaluate(async (model) => {
    const db = await new Promise((resolve, reject) => {
      const request = indexedDB.open('sculpt-weights');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const range = IDBKeyRange.bound(`${model}\0`, `${model}\u0001`, false, true);
    const read = (store, method) => new Promise((resolve, reject) => {
      const request = db.transaction(store).objectStore(store)[method](range);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const keys = await read('chunks', 'getAllKeys');
    const values = await read('chunks', 'getAll');
    db.close();
    return { keys, bytes: values.reduce((sum, chunk) => sum + chunk.byteLength, 0) };
  }, model);
}

test('files are checked and planned, imported, generated with, and still there offline after a reload', async () => {
  const browser = await openBrowser();
  try {
    const { page, context, problems } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    await waitForOfflineCopy(page);
    await showSurface(page, 'Models');
    await page.waitForSelector('#stored-models li');
    assert.match(await page.textContent('#stored-models'), /No imported models yet/);

    await chooseFiles(page);
    await assertNoError(page);
    const parts = await page.locator('#import-parts li').allTextContents();
    assert.equal(parts.length, 6, parts.join('\n'));
    assert.match(parts[0], /^FLUX transformer: transformer\.gguf .*schnell/);
    assert.match(parts[1], /^FLUX autoencoder: autoencoder\.safetensors/);
    assert.match(parts[2], /^CLIP text model: clip\.safetensors/);
    assert.match(parts[3], /^T5 encoder: t5\.safetensors/);
    assert.match(parts[4], /^CLIP tokenizer: clip-tokenizer\.json/);
    assert.match(parts[5], /^T5 tokenizer: t5-tokenizer\.json/);
    assert.match(await page.textContent('#import-check'), /Left out: MODEL\.md/);
    // The plan is for FLUX's default size, before anything is stored.
    assert.match(await page.textContent('#import-check'), /Memory plan for 1024×1024/);
    assert.match(await page.textContent('#import-plan'), /Peak/);
    assert.match(await page.textContent('#import-plan'), /Step previews/);
    assert.match(await page.textContent('#import-verdict'), /It fits/);
    assert.equal(await page.inputValue('#import-name'), 'transformer');
    assert.equal((await storedChunks(page, 'transformer')).keys.length, 0);
    assert.equal(await page.isEnabled('#import-button'), true);

    await importAs(page, NAME);
    await assertNoError(page);
    assert.equal((await listed(page, NAME))?.state, 'verified');
    // Six files, each smaller than one 32 MiB chunk.
    const chunks = await storedChunks(page, NAME);
    assert.equal(chunks.keys.length, 6);
    assert.ok(chunks.bytes > 16_000_000, `${chunks.bytes} bytes stored`);
    assert.match(await page.textContent('#storage'), /Imported models use 15\.72 MiB/);
    const options = await page.locator('#model option').allTextContents();
    assert.deepEqual(options, ['Built-in (sculpt-tiny)', `${NAME} (imported)`]);

    const first = await generateWith(page, NAME, 5);
    assert.equal(first.width, 64);
    const colours = new Set();
    for (let i = 0; i < first.data.length; i += 4) colours.add(first.data.slice(i, i + 3).join(','));
    assert.ok(colours.size > 16, `only ${colours.size} colours`);

    // The visualizer offers it too (a link may name it), and restores with it.
    assert.deepEqual(await page.locator('#vis-model option').allTextContents(), options);
    await page.evaluate((name) => {
      location.hash = `#/visualize?model=${name}&steps=2&t=0.5`;
    }, NAME);
    await page.waitForFunction(() => document.getElementById('vis-noisy').dataset.t === '0.50'
      && document.getElementById('visualize').dataset.run === 'idle', null, { timeout: 120_000 });
    assert.equal(await page.inputValue('#vis-model'), NAME);
    await page.click('#vis-restore');
    await page.waitForFunction(() => document.getElementById('visualize').dataset.run === 'done', null, {
      timeout: 240_000,
    });
    await assertNoError(page);
    assert.match(page.url(), new RegExp(`model=${NAME}`));
    assert.ok(Number(await page.getAttribute('#visualize', 'data-steps-drawn')) >= 1);

    // Offline, after a reload: the model is listed, verified, and generates
    // the same image from the same seed.
    await context.setOffline(true);
    await page.reload();
    await waitForEngine(page);
    await showSurface(page, 'Models');
    await page.waitForSelector(`#stored-models li[data-model="${NAME}"]`);
    assert.equal((await listed(page, NAME)).state, 'verified');
    const again = await generateWith(page, NAME, 5);
    assert.equal(differingBytes(again.data, first.data), 0, 'same seed, different pixels after a reload');
    assert.deepEqual(problems.filter((p) => !/Failed to load resource/.test(p)), []);
  } finally {
    await browser.close();
  }
});

test('a damaged chunk is found, a full quota leaves the store consistent and resumes, deleting frees the space', async () => {
  const browser = await openBrowser();
  try {
    const { page, context } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    await showSurface(page, 'Models');
    await page.waitForSelector('#stored-models li');

    // Quota: room for the transformer (5.8 MB) but not for everything (16.5 MB).
    const cdp = await context.newCDPSession(page);
    const origin = new URL(server.url).origin;
    const { usage } = await page.evaluate(() => navigator.storage.estimate());
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: usage + 8_000_000 });
    await chooseFiles(page);
    await importAs(page, NAME);
    assert.equal(await page.getAttribute('#app', 'data-state'), 'error');
    assert.match(await page.textContent('#error'), /not enough storage to finish importing "tiny-flux": \d+ more bytes are needed/);
    await page.waitForSelector(`#stored-models li[data-model="${NAME}"][data-state="importing"]`);
    const partial = await storedChunks(page, NAME);
    assert.ok(partial.keys.length >= 1 && partial.keys.length < 6, `${partial.keys.length} chunks after the quota error`);
    const picker = await page.locator('#model option').allTextContents();
    assert.deepEqual(picker, ['Built-in (sculpt-tiny)'], 'an unfinished model is offered');

    // With room again, the same files resume the import.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
    await importAs(page, NAME);
    await assertNoError(page);
    assert.equal((await listed(page, NAME)).state, 'verified');
    assert.equal((await storedChunks(page, NAME)).keys.length, 6);

    // Damage one byte of the CLIP file's chunk behind the page's back.
    await page.evaluate(async (model) => {
      const db = await new Promise((resolve) => {
        const request = indexedDB.open('sculpt-weights');
        request.onsuccess = () => resolve(request.result);
      });
      const store = db.transaction('chunks', 'readwrite').objectStore('chunks');
      const key = `${model}\0clip.safetensors\0${'0'.repeat(10)}`;
      const chunk = await new Promise((resolve) => {
        store.get(key).onsuccess = (event) => resolve(event.target.result);
      });
      chunk[chunk.length - 1] ^= 1;
      await new Promise((resolve) => {
        store.put(chunk, key).onsuccess = resolve;
      });
      db.close();
    }, NAME);
    await page.click(`button[data-action=verify][data-model="${NAME}"]`);
    await page.waitForSelector(`#stored-models li[data-model="${NAME}"][data-state="corrupt"]`);
    assert.match((await listed(page, NAME)).text, /chunk 0 of clip\.safetensors is damaged/);
    assert.deepEqual(await page.locator('#model option').allTextContents(), ['Built-in (sculpt-tiny)']);

    // Deleting takes two presses and frees every chunk.
    const remove = `button[data-action=delete][data-model="${NAME}"]`;
    await page.click(remove);
    assert.match(await page.textContent(remove), /Really delete tiny-flux\?/);
    await page.click(remove);
    await page.waitForFunction(
      (name) => !document.querySelector(`#stored-models li[data-model="${name}"]`),
      NAME,
    );
    assert.equal((await storedChunks(page, NAME)).keys.length, 0);
    assert.match(await page.textContent('#storage'), /Imported models use 0 bytes/);
  } finally {
    await browser.close();
  }
});

test('files given by web address are read in ranges, imported and verified; a bad address is named', async () => {
  const browser = await openBrowser();
  try {
    const { page } = browser;
    await page.goto(server.url);
    await waitForEngine(page);
    await showSurface(page, 'Models');
    await page.waitForSelector('#stored-models li');

    const base = `${server.url}models/sculpt-tiny/`;
    await page.fill('#import-urls', `${base}nothing-here.gguf\n`);
    await page.click('#check-urls');
    await waitUntilIdle(page);
    assert.match(await page.textContent('#error'), /nothing-here\.gguf: the server answered 404/);

    // The built-in model's files without its manifest, its own step
    // preview decoder among them.
    const names = ['transformer.gguf', 'autoencoder.safetensors', 'clip.safetensors',
      't5.safetensors', 'clip-tokenizer.json', 't5-tokenizer.json', 'preview.safetensors'];
    await page.fill('#import-urls', names.map((name) => base + name).join('\n'));
    await page.click('#check-urls');
    await page.waitForSelector('#import-verdict', { timeout: 60_000 });
    await waitUntilIdle(page);
    const parts = await page.locator('#import-parts li').allTextContents();
    assert.equal(parts.length, 7);
    assert.match(parts[6], /step preview decoder/);
    await importAs(page, 'from-the-web');
    await assertNoError(page);
    assert.equal((await listed(page, 'from-the-web'))?.state, 'verified');
    const chunks = await storedChunks(page, 'from-the-web');
    assert.equal(chunks.keys.length, 7);
    assert.equal(chunks.bytes, 16_485_019 + 111_528);
  } finally {
    await browser.close();
  }
});
