// Sculpt's service worker: after one visit the app works with the network
// off. It keeps a copy of the app shell (index.html, the page's and the
// engine's JavaScript and wasm, styles, icons) and of the built-in model's
// files, and answers from that copy whenever the network cannot.
//
// Network first, copy second: online, every request goes to the server (so a
// new build is picked up at once, and the page and the engine, which must be
// from the same build, never mix); each successful same-origin answer
// refreshes the copy. Offline, the copy answers.
//
// On install it fetches index.html and copies everything that page loads:
// the files index.html names, the engine worker's files, the built-in
// model's files as its manifest lists them, and the visualizer's sample
// images as samples/samples.json lists them.

const CACHE = 'sculpt-app-v1';
const WORKER_FILES = ['sculpt-worker_loader.js', 'sculpt-worker.js', 'sculpt-worker_bg.wasm'];
const BUILT_IN_MODEL = 'models/sculpt-tiny/';
const SAMPLES = 'samples/';

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      const shell = await fetch('./', { cache: 'no-cache' });
      if (!shell.ok) throw new Error(`cannot fetch the page to keep offline: ${shell.status}`);
      const html = await shell.clone().text();
      await cache.put('./', shell);
      const urls = new Set([...namedIn(html), ...WORKER_FILES]);
      for (const url of await builtInModelFiles()) urls.add(url);
      for (const url of await sampleFiles()) urls.add(url);
      await cache.addAll([...urls]);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  // Partial reads (a model imported from this site by address) go straight
  // to the network: a 206 answer cannot be kept, and a copy could not answer one.
  if (request.method !== 'GET' || url.origin !== self.location.origin || request.headers.has('range')) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      // The app is kept under the site's root: a navigation to it (the root,
      // index.html, any #/view) is the app; the widget's own pages
      // (widget.html, widget-demo.html) are kept as themselves.
      const scope = new URL(self.registration.scope).pathname;
      const app = url.pathname === scope || url.pathname === `${scope}index.html`;
      const key = request.mode === 'navigate' && app ? './' : request;
      try {
        const response = await fetch(request);
        if (response.status === 200 && response.type === 'basic') await cache.put(key, response.clone());
        return response;
      } catch (offline) {
        const copy = await cache.match(key, { ignoreSearch: request.mode === 'navigate' });
        if (copy) return copy;
        throw offline;
      }
    })(),
  );
});

/** Same-origin files the page's HTML names in href and src attributes. */
function namedIn(html) {
  const urls = [];
  for (const match of html.matchAll(/\b(?:href|src)="([^"#?]+)"/g)) {
    const url = new URL(match[1], self.registration.scope);
    if (url.origin === self.location.origin && url.pathname !== new URL(self.registration.scope).pathname) {
      urls.push(url.pathname);
    }
  }
  return urls;
}

/** The built-in model's manifest and the files it lists ({ files: { role: { path } } }). */
function builtInModelFiles() {
  return listedFiles(`${BUILT_IN_MODEL}manifest.json`, BUILT_IN_MODEL, (list) => Object.values(list.files ?? {}).map((file) => file.path));
}

/** The visualizer's sample list and the images it names ({ samples: [{ file }] }). */
function sampleFiles() {
  return listedFiles(`${SAMPLES}samples.json`, SAMPLES, (list) => (list.samples ?? []).map((sample) => sample.file));
}

/** A JSON list and the files `names(list)` gives, under `folder`; none when the list cannot be read. */
async function listedFiles(list, folder, names) {
  let files;
  try {
    const response = await fetch(list, { cache: 'no-cache' });
    if (!response.ok) return [];
    files = names(await response.json());
  } catch {
    return [];
  }
  return [list, ...files.map((name) => `${folder}${name}`)];
}
