// Sculpt's blog widget: one script tag, then
//
//   <sculpt-image prompt="a yellow star on a blue background" seed="7" steps="8"></sculpt-image>
//
// and the reader's browser generates the image, a step at a time, on the
// reader's own GPU (WebGPU), or on the CPU where there is none.
//
// This file is all a host page loads before a widget starts. It defines the
// element and speaks the engine's protocol (crates/sculpt-web/src/protocol:
// plain objects with a `type`) with the engine's worker, the same worker
// the Sculpt app runs. Every widget on a page shares one worker, one GPU
// device and one copy of the model; their generations queue, visible
// widgets first. The worker, its wasm and the model load only when the
// first widget starts, from this script's own folder, so the folder can be
// copied to any static host or CDN. Nothing is sent anywhere else.

const folder = new URL('.', import.meta.url);
const BUILT_IN_MODEL = 'sculpt-tiny';
const SHOWS = { x_t: 'current', x0: 'predicted_clean' };
const SIZES = [64, 128];
/** How the steps before the last are drawn (the last is always decoded in full). */
const PREVIEWS = ['fast', 'full'];
/**
 * Which engine the page's widgets share, from this script's address
 * (`sculpt-widget.js?engine=webgpu`): `auto` (the default) runs on WebGPU
 * with a GPU and on the CPU engine where WebGPU is missing or renders in
 * software; `webgpu` and `cpu` insist.
 */
const ENGINES = ['auto', 'webgpu', 'cpu'];
const ENGINE = new URL(import.meta.url).searchParams.get('engine') ?? 'auto';
const MAX_STEPS = 100;
const MAX_SEED = 4294967295;

/** Dispatches a bubbling event that crosses shadow roots. */
function emit(target, type, detail) {
  target.dispatchEvent(new CustomEvent(type, { bubbles: true, composed: true, detail }));
}

/** Bytes in words: "24 MB". */
function bytesInWords(bytes) {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(bytes >= 1e7 ? 0 : 1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1e3))} KB`;
}

// ---------------------------------------------------------------------------
// The engine: one worker for the page, one request at a time.

class Engine {
  static #shared;

  /** The page's engine, started on first use. */
  static shared() {
    Engine.#shared ??= new Engine();
    return Engine.#shared;
  }

  /** Whether the page's engine has started and loaded `model`. */
  static hasLoaded(model) {
    return Engine.#shared?.loadedModel === model;
  }

  #worker;
  #pending = null;
  /** Resolves to { backend, device } once the engine has its device. */
  ready;
  /** The model the engine last loaded. */
  loadedModel = null;

  constructor() {
    this.ready = new Promise((resolve, reject) => {
      this.#startWorker(resolve, reject);
    });
    // A failure to start is reported to every widget that waits.
    this.ready.catch(() => {});
  }

  #startWorker(resolve, reject) {
    if (!ENGINES.includes(ENGINE)) {
      reject(new Error(`sculpt-widget.js?engine= must be ${ENGINES.join(', ')}, not "${ENGINE}"`));
      return;
    }
    const script = new URL('sculpt-worker.js', folder).href;
    const wasm = new URL('sculpt-worker_bg.wasm', folder).href;
    try {
      if (folder.origin === location.origin) {
        // trunk's loader for the engine, beside this script.
        this.#worker = new Worker(new URL('sculpt-worker_loader.js', folder));
      } else {
        // A page cannot start a worker from another origin's script: a
        // blob of this page's own starts it, and imports the engine.
        const source = `importScripts(${JSON.stringify(script)});` +
          `wasm_bindgen({ module_or_path: ${JSON.stringify(wasm)} });`;
        const blob = new Blob([source], { type: 'text/javascript' });
        this.#worker = new Worker(URL.createObjectURL(blob));
      }
    } catch (error) {
      reject(new Error(`This page does not let Sculpt start its engine: ${error.message}`));
      return;
    }
    const fail = (message) => {
      reject(new Error(message));
      this.#settle({ type: 'failed', message });
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      fail(`The engine stopped: ${event.message || 'its script could not be loaded'}`);
    };
    this.#worker.onmessage = ({ data: reply }) => {
      switch (reply.type) {
        case 'loaded': {
          // The engine draws nothing itself for the widget: each step comes
          // back as pixels. It still needs a canvas to start its device.
          const canvas = new OffscreenCanvas(1, 1);
          this.#worker.postMessage({ type: 'attach', canvas, base: folder.href, engine: ENGINE }, [canvas]);
          break;
        }
        case 'ready':
          resolve({ backend: reply.backend, device: reply.device });
          break;
        case 'unavailable':
          fail(reply.message);
          break;
        case 'progress':
          this.#pending?.onProgress(reply.message);
          break;
        default:
          this.#settle(reply);
      }
    };
  }

  #settle(reply) {
    const pending = this.#pending;
    this.#pending = null;
    if (!pending) return;
    if (reply.type === 'failed') pending.reject(new Error(reply.message));
    else pending.resolve(reply);
  }

  /** Sends one request; resolves to its reply (`failed` rejects). */
  async request(message, onProgress = () => {}) {
    await this.ready;
    if (this.#pending) throw new Error('the engine is busy with another request');
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject, onProgress };
      this.#worker.postMessage(message);
    });
  }
}

// ---------------------------------------------------------------------------
// The queue: which widget's generation the engine works on.

const queue = {
  /** Widgets waiting to generate, in the order they asked. */
  waiting: [],
  running: null,
  wake: null,
  pumping: false,

  add(widget) {
    if (!this.waiting.includes(widget)) this.waiting.push(widget);
    this.poke();
  },

  remove(widget) {
    this.waiting = this.waiting.filter((other) => other !== widget);
    this.poke();
  },

  /** Something changed (a widget scrolled, the tab hid): look again. */
  poke() {
    this.wake?.();
    // After the caller's task: attributes set together count as one change.
    queueMicrotask(() => this.pump());
  },

  /**
   * The widget that should run next: one in view first, in the order they
   * asked; then an eager one out of view. None while the tab is hidden.
   */
  best() {
    if (document.hidden) return null;
    const candidates = this.waiting.filter((widget) => widget.mayRun && widget.mayRunUnseen);
    return candidates.find((widget) => widget.inView) ?? candidates[0] ?? null;
  },

  async pump() {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let widget = this.best(); widget; widget = this.best()) {
        this.remove(widget);
        this.running = widget;
        try {
          await widget.run();
        } finally {
          this.running = null;
        }
      }
    } finally {
      this.pumping = false;
    }
  },

  /**
   * Between two steps of `widget`'s generation: resolves to true to go on,
   * false when the widget gives the engine up to one in view (it waits
   * again). Waits while the tab is hidden or the widget is out of view and
   * nobody else wants the engine.
   */
  async mayContinue(widget) {
    for (;;) {
      if (!widget.mayRun) return false;
      if (!document.hidden) {
        const other = this.best();
        const outranked = other?.inView && !widget.inView;
        if (widget.mayRunUnseen && !outranked) return true;
        if (other) {
          this.waiting.unshift(widget);
          return false;
        }
      }
      await new Promise((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
  },
};

document.addEventListener('visibilitychange', () => queue.poke());

/** Fetches the sizes of what the first generation downloads (once per model). */
const downloads = new Map();
function downloadBytes(model) {
  if (!downloads.has(model)) {
    const size = async (url) => {
      const response = await fetch(url, { method: 'HEAD' });
      return Number(response.headers.get('content-length')) || 0;
    };
    const manifestUrl = model === BUILT_IN_MODEL
      ? new URL(`models/${BUILT_IN_MODEL}/manifest.json`, folder)
      : model.endsWith('/') ? new URL('manifest.json', model) : model;
    downloads.set(model, (async () => {
      const manifest = await (await fetch(manifestUrl)).json();
      const modelBytes = Object.values(manifest.files).reduce((sum, file) => sum + file.bytes, 0);
      const engine = (await size(new URL('sculpt-worker.js', folder))) +
        (await size(new URL('sculpt-worker_bg.wasm', folder)));
      return modelBytes + engine;
    })().catch(() => null));
  }
  return downloads.get(model);
}

// ---------------------------------------------------------------------------
// The element.

const styles = `
:host { all: initial; display: inline-block; box-sizing: border-box; vertical-align: top;
  width: var(--sculpt-size, 256px); max-width: 100%; font: 14px/1.4 system-ui, sans-serif;
  color: var(--sculpt-text, #1d1f24); contain: content; }
:host([hidden]) { display: none; }
* { box-sizing: border-box; }
figure { margin: 0; }
.stage { position: relative; aspect-ratio: 1; overflow: hidden; border-radius: var(--sculpt-radius, 8px);
  background: var(--sculpt-background, #d9dce3); }
canvas, .poster { position: absolute; inset: 0; display: block; width: 100%; height: 100%; }
.poster { object-fit: cover; }
.start { position: absolute; left: 50%; top: 50%; transform: translate(-50%, -50%); max-width: 90%; }
figcaption { margin-top: 0.4em; overflow-wrap: anywhere; }
.prompt { display: block; }
.status { display: block; font-size: 0.9em; opacity: 0.8; min-height: 1.4em; }
.status.error { color: #b00020; opacity: 1; }
form { display: flex; flex-wrap: wrap; gap: 0.4em; align-items: end; margin-top: 0.4em; }
label { display: flex; flex-direction: column; font-size: 0.85em; }
label.prompt-field { flex: 1 1 10em; }
input { font: inherit; font-size: 1rem; padding: 0.2em 0.35em; border: 1px solid #8a8f99; border-radius: 4px;
  color: inherit; background: #fff; min-width: 0; }
input[type=number] { width: 8em; }
button { font: inherit; padding: 0.35em 0.8em; border: 0; border-radius: calc(var(--sculpt-radius, 8px) / 2);
  background: var(--sculpt-accent, #3d5af1); color: #fff; cursor: pointer; }
button:disabled { opacity: 0.6; cursor: default; }
button:focus-visible, input:focus-visible { outline: 2px solid var(--sculpt-accent, #3d5af1); outline-offset: 2px; }
[hidden] { display: none !important; }
`;

let sheet;
/** The element's styles, adopted by every shadow root (one parse per page). */
function adoptStyles(root) {
  try {
    sheet ??= new CSSStyleSheet();
    if (!sheet.cssRules.length) sheet.replaceSync(styles);
    root.adoptedStyleSheets = [sheet];
  } catch {
    const style = document.createElement('style');
    style.textContent = styles;
    root.append(style);
  }
}

/** An element with attributes and children; text is always text. */
function make(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

const GENERATING = ['prompt', 'seed', 'steps', 'show', 'model', 'size', 'preview'];

class SculptImage extends HTMLElement {
  static observedAttributes = [...GENERATING, 'loading', 'controls', 'poster'];

  #parts;
  #observer = null;
  /** The reader or the page asked for an image (lazy ones: when in view). */
  #wanted = false;
  /** Bumped whenever what to generate changes: a run for an older one stops. */
  #version = 0;
  #cancelled = false;
  #announcedLoad = false;
  #regenerate = false;
  #running = false;
  inView = false;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    adoptStyles(root);
    const canvas = make('canvas', { part: 'canvas', width: '64', height: '64', role: 'img' });
    const poster = make('img', { part: 'poster', class: 'poster', alt: '' });
    const start = make('button', { part: 'start', class: 'start', type: 'button' }, 'Generate');
    const prompt = make('span', { class: 'prompt' });
    const status = make('span', { class: 'status', role: 'status', 'aria-live': 'polite' });
    const promptInput = make('input', { type: 'text', maxlength: '2000', name: 'prompt' });
    const seedInput = make('input', { type: 'number', min: '0', max: String(MAX_SEED), step: '1', name: 'seed', inputmode: 'numeric' });
    const fields = [
      make('label', { class: 'prompt-field' }, 'Prompt', promptInput),
      make('label', {}, 'Seed', seedInput),
      make('button', { type: 'submit' }, 'Generate'),
    ];
    const replay = make('button', { type: 'button', class: 'replay' }, 'Replay');
    const controls = make('form', { part: 'controls' }, ...fields, replay);
    const figure = make('figure', {},
      make('div', { class: 'stage' }, canvas, poster, start),
      make('figcaption', { part: 'caption' }, prompt, status),
      controls);
    root.append(figure);
    this.#parts = { canvas, poster, start, prompt, status, promptInput, seedInput, fields, replay, controls };

    start.addEventListener('click', () => this.generate());
    replay.addEventListener('click', () => (this.running ? this.cancel() : this.generate()));
    controls.addEventListener('submit', (event) => {
      event.preventDefault();
      this.prompt = promptInput.value;
      if (seedInput.value === '') this.removeAttribute('seed');
      else this.seed = seedInput.value;
      this.generate();
    });
  }

  // Attributes, mirrored as properties.
  get prompt() { return this.getAttribute('prompt') ?? ''; }
  set prompt(value) { this.setAttribute('prompt', value); }
  get seed() { return this.getAttribute('seed') ?? ''; }
  set seed(value) { this.setAttribute('seed', value); }
  get steps() { return this.getAttribute('steps') ?? ''; }
  set steps(value) { this.setAttribute('steps', value); }
  get show() { return this.getAttribute('show') === 'x0' ? 'x0' : 'x_t'; }
  set show(value) { this.setAttribute('show', value); }
  get model() { return this.getAttribute('model') ?? ''; }
  set model(value) { this.setAttribute('model', value); }
  get size() { return this.getAttribute('size') ?? ''; }
  set size(value) { this.setAttribute('size', value); }
  /** How steps before the last are drawn: fast (the preview decoder) or full. */
  get preview() { return this.getAttribute('preview') ?? ''; }
  set preview(value) { this.setAttribute('preview', value); }
  get loading() {
    const value = this.getAttribute('loading');
    return value === 'eager' || value === 'click' ? value : 'lazy';
  }
  set loading(value) { this.setAttribute('loading', value); }
  get controls() {
    const value = this.getAttribute('controls');
    return value === 'none' || value === 'full' ? value : 'minimal';
  }
  set controls(value) { this.setAttribute('controls', value); }
  get poster() { return this.getAttribute('poster') ?? ''; }
  set poster(value) { this.setAttribute('poster', value); }

  /** Whether its generation is in progress. */
  get running() { return this.#running; }

  /** Whether it wants the engine: connected, asked to generate, not stopped. */
  get mayRun() {
    return this.isConnected && this.#wanted && !this.#cancelled;
  }

  /** Whether it may use the engine now: in view, or eager (which runs unseen). */
  get mayRunUnseen() {
    return this.inView || this.loading === 'eager';
  }

  connectedCallback() {
    this.#render();
    this.#observer = new IntersectionObserver((entries) => {
      this.inView = entries.at(-1).isIntersecting;
      if (this.inView && this.loading === 'lazy' && !this.#wanted) this.generate();
      queue.poke();
    }, { rootMargin: '100px' });
    this.#observer.observe(this);
    if (this.loading === 'eager') this.generate();
    if (this.loading === 'click' && !this.#wanted) this.#offerStart();
  }

  disconnectedCallback() {
    this.#observer?.disconnect();
    queue.remove(this);
  }

  attributeChangedCallback(name, before, after) {
    if (before === after || !this.isConnected) return;
    this.#render();
    if (GENERATING.includes(name) && this.#wanted) {
      // Several attributes set together make one new image.
      if (!this.#regenerate) {
        this.#regenerate = true;
        queueMicrotask(() => {
          this.#regenerate = false;
          this.generate();
        });
      }
    }
  }

  /** Generates the image the attributes describe (again). */
  generate() {
    this.#wanted = true;
    this.#cancelled = false;
    this.#version++;
    this.#seedUsed = Math.floor(Math.random() * MAX_SEED);
    this.#parts.start.hidden = true;
    const settings = this.#settings();
    if (typeof settings === 'string') {
      this.#fail(settings);
      return;
    }
    this.#setStatus(queue.running && !this.running ? 'Waiting for the engine…' : 'Starting…');
    queue.add(this);
  }

  /** Stops the generation after its current step (or before it starts). */
  cancel() {
    if (!this.#wanted) return;
    this.#cancelled = true;
    queue.remove(this);
    if (!this.running) this.#setStatus('Stopped.');
  }

  /** Called by the queue: runs this widget's generation on the engine. */
  async run() {
    const engine = Engine.shared();
    const started = performance.now();
    this.#running = true;
    this.#render();
    try {
      this.#setStatus('Starting the engine…');
      emit(this, 'progress', { message: 'Starting the engine…' });
      const { backend } = await engine.ready;
      // What the attributes say now (they may have changed while the engine loaded).
      const version = this.#version;
      const settings = this.#settings();
      if (typeof settings === 'string') throw new Error(settings);
      if (!this.#announcedLoad) {
        this.#announcedLoad = true;
        emit(this, 'load', { backend });
      }
      const onProgress = (message) => {
        this.#setStatus(message);
        emit(this, 'progress', { message });
      };
      engine.loadedModel = null;
      const begun = await engine.request({ type: 'start_run', ...settings }, onProgress);
      engine.loadedModel = settings.model;
      this.#draw(begun.frames[0]);
      const steps = begun.schedule.length - 1;
      let step = 0;
      let yielded = false;
      try {
        while (step < steps) {
          yielded = !(await queue.mayContinue(this));
          if (yielded || version !== this.#version || this.#cancelled) break;
          this.#setStatus(`Step ${step + 1} of ${steps}…`);
          const reply = await engine.request({ type: 'step_run' });
          step = reply.index + 1;
          this.#draw(reply.frames[0]);
          emit(this, 'step', { step, steps, t: reply.t, ms: reply.ms });
        }
      } finally {
        await engine.request({ type: 'end_run' }).catch(() => {});
      }
      if (step === steps) {
        const ms = Math.round(performance.now() - started);
        const where = backend === 'cpu' ? 'your CPU' : 'your GPU';
        this.#setStatus(`Made on ${where} in ${(ms / 1000).toFixed(1)} s · seed ${settings.seed}`);
        emit(this, 'generated', {
          seed: settings.seed, width: settings.width, height: settings.height, steps, ms, backend,
        });
      } else if (this.#cancelled && version === this.#version) {
        this.#setStatus(`Stopped after ${step} of ${steps} steps.`);
      } else if (yielded && this.mayRun) {
        this.#setStatus('Waiting for the engine (another image in view goes first)…');
      }
    } catch (error) {
      this.#fail(error.message);
    } finally {
      this.#running = false;
      this.#render();
    }
  }

  /** What to ask the engine for, or what is wrong with the attributes. */
  #settings() {
    const whole = (name, text, min, max, fallback) => {
      if (text.trim() === '') return fallback;
      const value = Number(text);
      if (!Number.isInteger(value) || value < min || value > max) {
        throw new Error(`${name} must be a whole number from ${min} to ${max}, not "${text}"`);
      }
      return value;
    };
    try {
      const size = whole('size', this.size, 0, 4096, 64);
      if (!SIZES.includes(size)) throw new Error(`size must be ${SIZES.join(' or ')}, not ${size}`);
      const preview = this.preview.trim() === '' ? 'fast' : this.preview.trim();
      if (!PREVIEWS.includes(preview)) {
        throw new Error(`preview must be ${PREVIEWS.join(' or ')}, not "${this.preview}"`);
      }
      const model = this.model.trim() === '' || this.model.trim() === BUILT_IN_MODEL
        ? BUILT_IN_MODEL
        : new URL(this.model.trim(), document.baseURI).href;
      return {
        model,
        prompt: this.prompt,
        width: size,
        height: size,
        steps: whole('steps', this.steps, 1, MAX_STEPS, 20),
        seed: whole('seed', this.seed, 0, MAX_SEED, this.#seedUsed),
        show: SHOWS[this.show],
        preview,
        history: 0,
        frames: [SHOWS[this.show]],
      };
    } catch (error) {
      return `This image cannot be made: ${error.message}.`;
    }
  }

  #seedUsed = null;

  #draw(frame) {
    if (!frame) return;
    const { canvas, poster } = this.#parts;
    if (canvas.width !== frame.width || canvas.height !== frame.height) {
      canvas.width = frame.width;
      canvas.height = frame.height;
    }
    const pixels = new ImageData(new Uint8ClampedArray(frame.rgba), frame.width, frame.height);
    canvas.getContext('2d').putImageData(pixels, 0, 0);
    canvas.dataset.drawn = 'yes';
    poster.hidden = true;
  }

  #fail(message) {
    this.#setStatus(message, true);
    // What cannot be made shows the poster, where there is one.
    if (this.poster) this.#parts.poster.hidden = false;
    emit(this, 'error', { message });
  }

  #setStatus(message, error = false) {
    this.#parts.status.textContent = message;
    this.#parts.status.classList.toggle('error', error);
  }

  /** Click to start: the button says what the first generation downloads. */
  async #offerStart() {
    const { start } = this.#parts;
    start.hidden = false;
    const model = this.#settings().model ?? BUILT_IN_MODEL;
    if (Engine.hasLoaded(model)) return;
    const bytes = await downloadBytes(model);
    if (bytes && !this.#wanted) start.textContent = `Generate (downloads ${bytesInWords(bytes)})`;
  }

  /** Shows the attributes: prompt as text, poster, controls. */
  #render() {
    const parts = this.#parts;
    parts.prompt.textContent = this.prompt;
    parts.canvas.setAttribute('aria-label', `Image generated from the prompt: ${this.prompt}`);
    if (this.poster && parts.poster.getAttribute('src') !== this.poster) {
      parts.poster.setAttribute('src', this.poster);
    }
    parts.poster.hidden = !this.poster || parts.canvas.dataset.drawn === 'yes';
    parts.controls.hidden = this.controls === 'none';
    for (const field of parts.fields) field.hidden = this.controls !== 'full';
    if (this.controls === 'full' && document.activeElement !== this) {
      parts.promptInput.value = this.prompt;
      parts.seedInput.value = this.seed;
    }
    parts.replay.textContent = this.running ? 'Stop' : 'Replay';
    parts.replay.disabled = !this.#wanted && !this.running;
  }
}

if (!customElements.get('sculpt-image')) customElements.define('sculpt-image', SculptImage);

export { SculptImage };
