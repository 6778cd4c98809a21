// The blog widget's benchmark (not a test): a post on one loopback origin
// with `widgets` <sculpt-image> elements (eager, at the top, distinct
// seeds) includes the widget from another, as a blog includes it from a
// CDN, in headless Chromium (WebGPU on SwiftShader, or with `cpu` the
// engine's CPU fallback). Measures the bytes the widget's origin serves
// before any widget starts (a post whose one widget is lazy and far below
// the fold) and for the first run, and the time from navigation to each
// widget's first step and to its image. Prints Markdown for BENCHMARKS.md.
//
//   SCULPT_DIST=target/e2e-dist node tests/e2e/bench-widget.mjs [steps] [widgets] [webgpu|cpu]

import { gzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { servePage, openBrowser, noWebgpuFlags, webgpuFlags } from './harness.mjs';

const steps = Number(process.argv[2] ?? 8);
const widgets = Number(process.argv[3] ?? 1);
const backend = process.argv[4] ?? 'cpu';
if (!['webgpu', 'cpu'].includes(backend)) throw new Error(`unknown backend ${backend}: webgpu or cpu`);

let servedBytes = 0;
const files = await servePage(undefined, {
  headers: { 'access-control-allow-origin': '*' },
  served: (_, bytes) => {
    servedBytes += bytes;
  },
});
// SwiftShader is software: on WebGPU's flags the widget would pick the CPU by itself.
const insist = backend === 'webgpu' ? '?engine=webgpu' : '';
const script = `<script type="module" src="${files.url}sculpt-widget.js${insist}"></script>`;
const element = (seed, loading) =>
  `<sculpt-image id="w${seed}" prompt="a yellow star on a blue background" seed="${seed}" steps="${steps}" loading="${loading}"></sculpt-image>`;
const posts = {
  '/idle.html': `<!doctype html><title>idle</title>${script}<div style="height:3000px"></div>${element(0, 'lazy')}`,
  '/busy.html': `<!doctype html><title>busy</title>${script}${Array.from({ length: widgets }, (_, i) => element(i + 1, 'eager')).join('')}`,
};
const post = await servePage(undefined, { pages: posts });
const browser = await openBrowser({ flags: backend === 'cpu' ? noWebgpuFlags : webgpuFlags });
try {
  const { page } = browser;
  const at = (name) => `${post.url}${name}`;
  servedBytes = 0;
  await page.goto(at('idle.html'));
  await page.waitForTimeout(1500);
  const beforeStart = servedBytes;

  await page.addInitScript(() => {
    window.widgetTimes = {};
    for (const type of ['step', 'generated']) {
      document.addEventListener(type, (event) => {
        const times = (window.widgetTimes[event.target.id] ??= {});
        if (type === 'step' && times.firstStep === undefined) times.firstStep = performance.now();
        if (type === 'generated') times.generated = performance.now();
      });
    }
  });
  servedBytes = 0;
  await page.goto(at('busy.html'));
  await page.waitForFunction(
    (widgets) => Object.values(window.widgetTimes).filter((times) => times.generated).length === widgets,
    widgets,
    { timeout: 900_000, polling: 100 },
  );
  const firstRun = servedBytes;
  const times = await page.evaluate(() => window.widgetTimes);
  const script = await readFile(path.join(process.env.SCULPT_DIST, 'sculpt-widget.js'));

  const label = backend === 'cpu' ? 'the CPU engine (no WebGPU)' : 'WebGPU (SwiftShader)';
  const mb = (bytes) => (bytes / 1e6).toFixed(2);
  console.log(`The widget, ${label}: ${widgets} widget(s) of sculpt-tiny at 64×64, ${steps} steps, the post and the widget on two loopback origins.\n`);
  console.log('| widgets | bytes before a widget starts | MB on the first run | navigation → first step, each widget (ms) | navigation → image, each widget (ms) |');
  console.log('|---|---|---|---|---|');
  const ids = Object.keys(times).sort();
  console.log(`| ${widgets} | ${beforeStart} | ${mb(firstRun)} | ${ids.map((id) => Math.round(times[id].firstStep)).join(', ')} | ${ids.map((id) => Math.round(times[id].generated)).join(', ')} |`);
  console.log(`\nsculpt-widget.js: ${script.length} bytes, ${gzipSync(script, { level: 9 }).length} gzipped.`);
} finally {
  await browser.close();
  await files.close();
  await post.close();
}
