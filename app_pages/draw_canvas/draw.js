// The Draw page's canvas (st.components.v2, no build step). app_pages/draw_canvas/__init__.py
// puts preprocess.js before this file: one ES module, run in the page itself (loaded from the
// static folder by the component's small loader, or inline).
//
// While the pen is down, every pointer move (Chrome dispatches them once per animation frame)
// draws its segment and reads the drawing here, in the browser: canvasToMnist (preprocess.js,
// the server's preprocessing step by step) and the chosen model's .tflite run by LiteRT.js,
// vendored in static/ and served by Streamlit (static/vendor/litertjs-2.5.3/). The server hears
// from the component only when a drawing settles (SETTLE_MS after the pen is lifted: the canvas
// as a PNG, the browser's probabilities and 28x28, state "drawing") and on a tap on a correction chip
// (trigger "correction") or on Undo (trigger "undo"). Where the browser can't run the model (no
// WebAssembly, the runtime fails to load, or data.reader is "server"), it reads on the server:
// a settled drawing goes without probabilities and the server's reading comes back in data.
//
// data, from app_pages/draw.py:
//   static   the static folder's URL path ("/app/static/", with server.baseUrlPath)
//   module   this module's path under it (for the loader in __init__.py)
//   reader   "browser" or "server"; why: the reason for "server" (a sentence), or null
//   model    {url: "models/<hash>.tflite", shape: [1, 784], name} or null
//   server   the server's reading of a settled drawing: {seq, probs} or {seq, error}, or null
//   result   the last correction's outcome: {id, attempt, kind: saved | failed | undone | undo-failed, label,
//            message, retry (failed: tapping again may work)}
//   shown    the seq of the settled drawing shown under the canvas (tests wait for data-shown == data-sent)
//
// No tap is lost: a tapped drawing is kept (here and in the tab's sessionStorage, which outlives a canvas
// drawn anew) until the server has said how its save went. While it waits, the canvas asks the server's
// health endpoint every second; a server gone (restarting, the connection lost) or silent for ACK_MS gives
// the drawing back with a line that says so, and a tap on the same digit retries the save under the same
// client id, so that the server stores it once whether or not the first attempt got through.

export const RUNTIME_DIR = "vendor/litertjs-2.5.3/";
const SETTLE_MS = 300;
const SAVED_MS = 6000;
const DEFAULT_PEN = 18;
const WATCH_MS = 1000;          // while a save waits: the server's health asked this often
const HEALTH_TIMEOUT_MS = 1500;
const GONE_AFTER = 2;           // failed health checks in a row that mean the server is gone
const ACK_MS = 12000;           // a save unanswered this long is given back (a lost rerun)
const UNSAVED_KEY = "mnistLab.unsaved";   // sessionStorage: taps the server has not answered yet

// --------------------------------------------------------------------------- the runtime

let runtime = null;            // Promise of LiteRT's module: loadLiteRt may run once per page
const compiled = new Map();    // model URL -> Promise of predict(Float32Array(784)) -> Float32Array(10)

async function fetchGunzip(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const stream = response.body.pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// LiteRT.js, once per page. The .wasm comes gzipped (see static/vendor/litertjs-2.5.3/README.md)
// and is handed to Emscripten as wasmBinary; printErr keeps LiteRT's INFO lines off the console.
export function loadRuntime(staticUrl) {
  if (runtime === null) {
    runtime = (async () => {
      if (typeof WebAssembly !== "object") throw new Error("this browser has no WebAssembly");
      if (typeof DecompressionStream !== "function") throw new Error("this browser can't unpack the runtime");
      const dir = staticUrl + RUNTIME_DIR;
      const lrt = await import(dir + "litert.js");
      const build = (await lrt.supportsFeature("relaxedSimd")) ? "litert_wasm_internal" : "litert_wasm_compat_internal";
      self.Module = { wasmBinary: await fetchGunzip(dir + "wasm/" + build + ".wasm.gz"), printErr: () => {} };
      // loadLiteRt asks for a WebGPU device for its default environment (powering up a laptop's
      // GPU, or warning twice where there is none); the model runs on the CPU, so it is told
      // there is no adapter, and its warning about that is dropped.
      const warn = console.warn;
      Object.defineProperty(navigator, "gpu", { value: { requestAdapter: async () => null }, configurable: true });
      console.warn = (...args) => { if (!String(args[0]).startsWith("Failed to create default WebGPU")) warn(...args); };
      try {
        await lrt.loadLiteRt(dir + "wasm/" + build + ".js");
      } finally {
        console.warn = warn;
        delete navigator.gpu;   // the own property: Navigator.prototype's getter shows again
      }
      return lrt;
    })();
  }
  return runtime;
}

// The model at modelUrl, compiled for LiteRT's WebAssembly CPU backend (not WebGPU: no probing),
// warmed up; resolves to predict(x) for one 28x28 image (Float32Array(784)).
export function loadModel(staticUrl, modelUrl, shape) {
  if (!compiled.has(modelUrl)) {
    compiled.set(modelUrl, (async () => {
      const lrt = await loadRuntime(staticUrl);
      const model = await lrt.loadAndCompile(modelUrl, { accelerator: "wasm" });
      const predict = async (x) => {
        const input = new lrt.Tensor(x, shape);
        try {
          const outputs = await model.run(input);
          const probs = Float32Array.from(outputs[0].toTypedArray());
          for (const out of outputs) out.delete();
          return probs;
        } finally {
          input.delete();
        }
      };
      await predict(new Float32Array(784));
      return predict;
    })());
  }
  return compiled.get(modelUrl);
}

// The 28x28 image as base64 of its 784 bytes (0-255): what the page shows under the canvas. The
// server keeps nothing of it: a saved drawing's 28x28 is its own preprocessing of the PNG.
function seenBytes(x) {
  let text = "";
  for (let i = 0; i < x.length; i++) text += String.fromCharCode(Math.round(Math.min(1, Math.max(0, x[i])) * 255));
  return btoa(text);
}

function argmax(probs) {
  let best = 0;
  for (let k = 1; k < probs.length; k++) if (probs[k] > probs[best]) best = k;
  return best;
}

function newId() {   // crypto.randomUUID needs a secure context; a LAN address over http is not one
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// Taps not answered yet, in the tab's sessionStorage: a canvas drawn anew (the server restarted, the
// page left and come back to) still gives them back. [{id, label, strokes, at}], the newest last.
function unsavedTaps() {
  try {
    const list = JSON.parse(sessionStorage.getItem(UNSAVED_KEY) || "[]");
    return Array.isArray(list) ? list : [];
  } catch (error) {
    return [];
  }
}

function keepUnsaved(list) {
  try {
    if (list.length) sessionStorage.setItem(UNSAVED_KEY, JSON.stringify(list.slice(-5)));
    else sessionStorage.removeItem(UNSAVED_KEY);
  } catch (error) { /* storage full or off: this canvas still holds them */ }
}

// Figures for the tests and bench/browser_reading.py (ms): pointer event -> reading written (latency) and
// -> the start of the frame that paints it (frame), preprocessing, inference.
const stats = (window.__mnistDraw = window.__mnistDraw || { latency: [], frame: [], pre: [], infer: [], whileDown: 0, settled: 0 });
const keep = (list, value) => { list.push(value); if (list.length > 5000) list.shift(); };
// The outcomes of taps shown already in this tab: a canvas drawn anew (the visitor back from
// another page within the seconds the server still sends one) never says "Saved" again.
const shownResults = (window.__mnistShownResults = window.__mnistShownResults || new Set());
let attempts = Date.now();      // numbers each tap of this tab: the server's answer to it says which

// --------------------------------------------------------------------------- the component

class DrawCanvas {
  constructor(root, component) {
    this.root = root;
    this.api = component;
    this.data = component.data || {};
    const $ = (selector) => root.querySelector(selector);
    this.box = $(".draw");
    this.canvas = $("canvas");
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    this.digitEl = $(".digit"); this.wordsEl = $(".words"); this.howEl = $(".how");
    this.undoBtn = $("button.undo"); this.clearBtn = $("button.clear");
    this.penInput = $(".pen input"); this.penLabel = $(".pen b");
    this.rightBtn = $("button.right"); this.chips = [...root.querySelectorAll("button.chip")];
    this.statusEl = $(".status"); this.statusText = $(".status .text"); this.undoSaveBtn = $("button.undo-save");
    this.W = this.canvas.width; this.H = this.canvas.height;

    this.strokes = [];          // [{width, points: [[x, y], ...]}], to redraw after Undo
    this.down = false;
    // Changes with every change of the drawing. Counted on from the clock, not from 0: a canvas drawn
    // anew (the visitor back from another page) must never reuse a number its session has seen, or the
    // server takes a new drawing for one saved and cleared before (app_pages/draw.py, CLEARED).
    this.seq = Date.now();
    this.settleTimer = null;
    this.predict = null;        // the browser's model, once loaded
    this.modelUrl = null;
    this.mode = "loading";      // "browser", "server" or "loading"
    this.why = null;
    this.probs = null;          // the reading of the drawing on the canvas now (browser or server)
    this.readSeq = -1;          // the seq of the drawing this.probs reads
    this.pending = null;        // the drawing whose next reading is due: {t: event time}
    this.busy = false;
    this.saves = new Map();     // client id -> {label, strokes}: the drawing, to give back on failure or Undo
    this.lastSaved = null;      // client id of the save that "Undo" takes back
    this.statusTimer = null;
    this.waiting = new Map();   // client id -> {kind: "save" | "undo", at}: taps the server has not answered
    this.watchTimer = null; this.healthFails = 0;
    this.retry = null;          // {id, label}: the drawing on the canvas is one given back unsaved

    this.penInput.value = String(this.data.pen || DEFAULT_PEN);
    this.penLabel.textContent = this.penInput.value;
    this.blank();
    this.listen();
    this.update(component);
    this.restoreUnsaved();
  }

  // A canvas drawn anew with taps of this tab never answered (the server restarted meanwhile): the newest
  // comes back on the canvas, the others stay kept for their turn.
  restoreUnsaved() {
    const list = unsavedTaps();
    if (!list.length || this.strokes.length) return;
    const last = list[list.length - 1];
    this.saves.set(last.id, { label: last.label, strokes: last.strokes });
    this.giveBack(last.id);
    this.status("failed", "Not confirmed: the connection to the server was lost. Your drawing is back: tap again "
                          + "to save it.", false, 0);
  }

  // ------------------------------------------------------------------ from the server
  update(component) {
    this.api = component;
    const d = (this.data = component.data || {});
    const base = new URL(d.static || "/app/static/", location.origin).href;
    if (d.reader === "server" || !d.model) {
      this.useServer(d.why || "this page reads on the server");
    } else if (base + d.model.url !== this.modelUrl && base + d.model.url !== this.failedUrl) {
      this.useBrowser(base, d.model);
    }
    this.box.dataset.shown = d.shown == null ? "" : String(d.shown);   // the drawing the page shows under the canvas
    const s = d.server;
    if (this.mode === "server" && s && s.seq === this.seq && this.readSeq !== this.seq) {
      if (s.probs) this.show(s.probs, false, s.seq);
      else this.say("", s.error || "Nothing to read");
      this.howEl.textContent = "read on the server" + (this.why ? ` (${this.why})` : "");
    }
    const heard = d.result && `${d.result.id}:${d.result.kind}:${d.result.attempt}`;   // a retry is heard anew
    if (d.result && !shownResults.has(heard)) {
      shownResults.add(heard);
      this.outcome(d.result);
    }
  }

  useServer(why) {
    if (this.mode === "server" && this.why === why) return;
    this.mode = "server"; this.why = why; this.predict = null; this.modelUrl = null;
    this.box.dataset.reader = "server";
    this.howEl.textContent = "read on the server" + (why ? ` (${why})` : "");
    if (!this.strokes.length) this.say("–", "Draw a digit");
  }

  useBrowser(base, model) {
    const url = base + model.url;
    this.modelUrl = url;
    this.mode = "loading"; this.predict = null;
    this.box.dataset.reader = "loading";
    this.howEl.textContent = "loading the model into your browser…";
    const started = performance.now();
    loadModel(base, url, model.shape).then((predict) => {
      if (this.modelUrl !== url) return;           // another model was chosen meanwhile
      this.predict = predict; this.mode = "browser";
      stats.loadMs = performance.now() - started;
      this.box.dataset.reader = "browser";
      this.howEl.textContent = `read in your browser (LiteRT.js) · ${model.name || "the chosen model"}`;
      if (this.strokes.length) this.schedule(performance.now());
    }, (error) => {
      if (this.modelUrl !== url) return;
      this.failedUrl = url;
      console.warn("MNIST lab: reading on the server:", error);
      const why = `your browser could not run the model: ${String(error && error.message || error).slice(0, 160)}`;
      this.useServer(why);
      this.api.setTriggerValue("fallback", { reason: why });
      if (this.strokes.length) this.settle();
    });
  }

  // ------------------------------------------------------------------ drawing
  listen() {
    const c = this.canvas;
    const consume = (e) => e.preventDefault();
    this.on = [
      [c, "pointerdown", (e) => this.penDown(e)], [c, "pointermove", (e) => this.penMove(e)],
      [c, "pointerup", (e) => this.penUp(e)], [c, "pointercancel", (e) => this.penUp(e)],
      [c, "contextmenu", consume],
      // A finger's strokes are the canvas's own. Left to the browser, a quick stroke is still a
      // gesture to it (touch-action: none stops only the scrolling), and Chrome swallowed a tap that
      // came within about half a second of one: the chip tapped at once (tests/browser/test_draw.py).
      [c, "touchstart", consume, { passive: false }], [c, "touchmove", consume, { passive: false }],
      [this.undoBtn, "click", () => this.undoStroke()], [this.clearBtn, "click", () => this.clear(true)],
      [this.penInput, "input", () => { this.penLabel.textContent = this.penInput.value; }],
      [this.rightBtn, "click", () => this.probs && this.correct(argmax(this.probs))],
      [this.undoSaveBtn, "click", () => this.undoSave()],
      ...this.chips.map((chip) => [chip, "click", () => this.correct(Number(chip.dataset.digit))]),
    ];
    for (const [el, type, fn, options] of this.on) el.addEventListener(type, fn, options);
  }

  cleanup() {
    for (const [el, type, fn] of this.on || []) el.removeEventListener(type, fn);
    clearTimeout(this.settleTimer); clearTimeout(this.statusTimer); clearTimeout(this.watchTimer);
    this.waiting.clear();
    delete this.root.__mnist;
  }

  blank() {
    this.ctx.fillStyle = "#000";
    this.ctx.fillRect(0, 0, this.W, this.H);
  }

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * this.W / r.width, (e.clientY - r.top) * this.H / r.height];
  }

  segment(width, from, points) {
    const ctx = this.ctx;
    ctx.strokeStyle = "#fff"; ctx.lineWidth = width; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(from[0], from[1]);
    for (const [x, y] of points) ctx.lineTo(x, y);
    if (points.length === 1 && points[0][0] === from[0] && points[0][1] === from[1]) ctx.lineTo(from[0] + 0.01, from[1]);  // a dot
    ctx.stroke();
  }

  redraw() {
    this.blank();
    for (const s of this.strokes) this.segment(s.width, s.points[0], s.points.length > 1 ? s.points.slice(1) : [s.points[0]]);
  }

  penDown(e) {
    if (e.button !== undefined && e.button > 0) return;
    e.preventDefault();
    this.canvas.setPointerCapture?.(e.pointerId);
    clearTimeout(this.settleTimer);
    this.down = true;
    this.retry = null;          // a new stroke: a new drawing, a new save
    const p = this.point(e);
    this.strokes.push({ width: Number(this.penInput.value), points: [p] });
    this.segment(Number(this.penInput.value), p, [p]);
    this.changed(e.timeStamp);
  }

  penMove(e) {
    if (!this.down) return;
    const stroke = this.strokes[this.strokes.length - 1];
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    const points = (events.length ? events : [e]).map((ev) => this.point(ev));
    this.segment(stroke.width, stroke.points[stroke.points.length - 1], points);
    stroke.points.push(...points);
    this.changed(e.timeStamp);
  }

  penUp() {
    if (!this.down) return;
    this.down = false;
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => this.settle(), SETTLE_MS);
  }

  changed(t) {
    this.seq++;
    this.box.dataset.seq = String(this.seq);
    this.undoBtn.disabled = this.clearBtn.disabled = false;
    this.box.dataset.stale = "1";
    if (this.mode === "browser") this.schedule(t);
    else if (this.readSeq !== this.seq - 1 || !this.probs) this.say("…", this.mode === "server" ? "Read when you lift the pen" : "Loading the model…");
  }

  undoStroke() {
    if (!this.strokes.length) return;
    this.retry = null;
    this.strokes.pop();
    this.redraw();
    if (!this.strokes.length) return this.clear(true);
    this.changed(performance.now());
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => this.settle(), SETTLE_MS);
  }

  clear(tell) {
    clearTimeout(this.settleTimer);
    this.retry = null;
    this.strokes = []; this.down = false; this.seq++;
    this.box.dataset.seq = String(this.seq);
    this.redraw();
    this.probs = null; this.readSeq = this.seq;
    this.undoBtn.disabled = this.clearBtn.disabled = true;
    this.say("–", "Draw a digit");
    if (tell) this.api.setStateValue("drawing", null);
  }

  // ------------------------------------------------------------------ reading
  schedule(t) {                 // the latest drawing wins; a reading never queues behind a stale one
    this.pending = { t };
    if (!this.busy) this.pump();
  }

  async pump() {
    this.busy = true;
    try {
      while (this.pending && this.predict) {
        const { t } = this.pending;
        this.pending = null;
        const seq = this.seq, down = this.down;
        const a = performance.now();
        let x;
        try {
          x = canvasToMnist(this.ctx.getImageData(0, 0, this.W, this.H).data, this.H, this.W);
        } catch (error) {
          if (!(error instanceof DrawingError)) throw error;
          this.probs = null; this.readSeq = seq;
          this.say("", error.kind === "small" ? "Too small to read: draw it larger" : "Nothing to read yet");
          continue;
        }
        const b = performance.now();
        const probs = await this.predict(x);
        const c = performance.now();
        if (seq !== this.seq && !this.pending) this.pending = { t };   // drawn on while reading: again
        this.x28 = x;
        this.show(probs, down, seq);
        keep(stats.pre, b - a); keep(stats.infer, c - b); keep(stats.latency, performance.now() - t);
        requestAnimationFrame(() => keep(stats.frame, performance.now() - t));   // the frame that shows it
        if (down) stats.whileDown++;
      }
    } catch (error) {
      console.error("MNIST lab: reading failed", error);
      this.useServer(`the reading failed in your browser: ${String(error.message || error).slice(0, 160)}`);
      this.api.setTriggerValue("fallback", { reason: this.why });
    } finally {
      this.busy = false;
    }
  }

  show(probs, down, seq) {
    const digit = argmax(probs);
    this.probs = Array.from(probs); this.readSeq = seq;
    this.digitEl.textContent = String(digit);
    this.wordsEl.textContent = `Reads ${digit} · ${Math.round(probs[digit] * 100)}% sure`;
    const what = this.digitEl.parentElement;
    what.dataset.digit = String(digit); what.dataset.down = down ? "1" : "0";
    this.box.dataset.stale = seq === this.seq ? "0" : "1";
    this.enableFix(true, digit);
  }

  say(digit, words) {
    this.digitEl.textContent = digit;
    this.wordsEl.textContent = words;
    delete this.digitEl.parentElement.dataset.digit;
    this.box.dataset.stale = "0";
    this.enableFix(false, -1);
  }

  enableFix(on, digit) {
    this.rightBtn.disabled = !on;
    this.rightBtn.textContent = on ? `Right ✓ (${digit})` : "Right ✓";
    for (const chip of this.chips) {
      chip.disabled = !on;
      chip.classList.toggle("read", on && Number(chip.dataset.digit) === digit);
    }
  }

  // The drawing is settled: the server gets it once (the PNG, and the browser's reading).
  async settle() {
    clearTimeout(this.settleTimer);
    if (this.down || !this.strokes.length) return;
    while (this.busy || (this.pending && this.predict)) await new Promise((r) => setTimeout(r, 5));
    const seq = this.seq;
    const browser = this.mode === "browser" && this.readSeq === seq;
    stats.settled++;
    this.box.dataset.sent = String(seq);
    this.lastAdvice = drawingAdvice(this.ctx.getImageData(0, 0, this.W, this.H).data, this.H, this.W);
    this.api.setStateValue("drawing", {
      seq, png: this.canvas.toDataURL("image/png"),
      probs: browser ? this.probs : null, reader: browser ? "browser" : "server",
      seen: browser ? seenBytes(this.x28) : null,   // the 28x28 the model read, to show under the canvas
    });
    const advice = this.lastAdvice;
    if (this.mode === "server") this.howEl.textContent = "reading on the server…";
    if (!this.statusEl.dataset.kind || this.statusEl.dataset.kind === "advice") {
      this.status(advice ? "advice" : "", advice || "", false, 0);
    }
  }

  // ------------------------------------------------------------------ corrections
  correct(label) {
    if (!this.strokes.length || !this.probs || this.readSeq !== this.seq) return;
    // The same drawing given back unsaved, tapped with the same digit: the same save, retried (one row).
    const id = this.retry && this.retry.label === label ? this.retry.id : newId();
    this.retry = null;
    const strokes = this.strokes.map((s) => ({ width: s.width, points: s.points.slice() }));
    this.saves.set(id, { label, strokes });
    keepUnsaved([...unsavedTaps().filter((t) => t.id !== id), { id, label, strokes, at: Date.now() }]);
    const payload = { client_id: id, label, png: this.canvas.toDataURL("image/png"), probs: this.probs, seq: this.seq,
                      reader: this.mode === "browser" ? "browser" : "server", attempt: ++attempts };
    this.clear(false);        // the next digit can start at once; a failed save gives this one back
    this.status("saving", `Saving as ${label}…`, false, 0);   // until the server answers
    this.wait(id, "save");
    this.api.setTriggerValue("correction", payload);
  }

  undoSave() {
    if (!this.lastSaved) return;
    this.status("saving", "Taking it back…", false, 0);
    this.wait(this.lastSaved, "undo");
    this.api.setTriggerValue("undo", { client_id: this.lastSaved, attempt: ++attempts });
  }

  // ------------------------------------------------------------------ waiting for the server's answer
  wait(id, kind) {
    this.waiting.set(id, { kind, at: performance.now() });
    this.healthFails = 0;
    if (!this.watchTimer) this.watchTimer = setTimeout(() => this.watch(), WATCH_MS);
  }

  answered(id) {
    this.waiting.delete(id);
    keepUnsaved(unsavedTaps().filter((t) => t.id !== id));
    if (!this.waiting.size) { clearTimeout(this.watchTimer); this.watchTimer = null; }
  }

  healthUrl() {
    const base = new URL(this.data.static || "/app/static/", location.origin).pathname.replace(/app\/static\/?$/, "");
    return new URL(base + "_stcore/health", location.origin).href;
  }

  async healthy() {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), HEALTH_TIMEOUT_MS);
    try {
      const response = await fetch(this.healthUrl(), { cache: "no-store", signal: abort.signal });
      return response.ok;
    } catch (error) {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async watch() {
    this.watchTimer = null;
    if (!this.waiting.size) return;
    const up = await this.healthy();
    this.healthFails = up ? 0 : this.healthFails + 1;
    const now = performance.now();
    for (const [id, w] of [...this.waiting]) {
      if (this.healthFails >= GONE_AFTER) this.unanswered(id, w, "the server is not answering");
      else if (now - w.at > ACK_MS) this.unanswered(id, w, "no answer from the server");
    }
    if (this.waiting.size && !this.watchTimer) this.watchTimer = setTimeout(() => this.watch(), WATCH_MS);
  }

  unanswered(id, w, why) {    // the server went away (or lost the tap): say so, give the drawing back
    this.waiting.delete(id);
    if (w.kind === "undo") {
      this.status("failed", `Not taken back: ${why}. Tap Undo again in a moment.`, true, 0);
      return;
    }
    this.status("failed", this.giveBack(id) ? `Not saved: ${why}. Your drawing is kept: tap again to retry.`
                                            : `Not saved: ${why}. That drawing comes back when you reload the page.`,
                false, 0);
    if (!this.waiting.size) { clearTimeout(this.watchTimer); this.watchTimer = null; }
  }

  giveBack(id) {              // the saved drawing back on the canvas, if nothing new is drawn there
    const save = this.saves.get(id);
    if (!save || this.strokes.length) return false;
    this.strokes = save.strokes;
    this.redraw();
    this.changed(performance.now());
    this.retry = { id, label: save.label };
    this.settleTimer = setTimeout(() => this.settle(), SETTLE_MS);
    return true;
  }

  outcome(r) {
    const late = !this.waiting.has(r.id);   // answered after the canvas gave the drawing back
    this.answered(r.id);
    if (r.kind === "saved") {
      this.lastSaved = r.id;
      if (late && this.retry && this.retry.id === r.id) this.clear(true);   // it did get through: as a save does
      this.status("saved", `Saved as ${r.label}`, true);
    } else if (r.kind === "failed") {
      this.giveBack(r.id);
      this.status("failed", r.retry === false ? `Not saved: ${r.message}${/[.!?]$/.test(r.message) ? "" : "."}`
                                              : `Not saved: ${r.message}. Your drawing is kept: tap again to retry.`,
                  false, 0);
    } else if (r.kind === "undone") {
      this.lastSaved = null;
      this.giveBack(r.id);
      this.retry = null;       // taken back: a tap now is a new save
      this.status("undone", "Taken back: it is not in the collection.", false);
    } else if (r.kind === "undo-failed") {
      this.status("failed", `Not taken back: ${r.message}.`, true, 0);
    }
  }

  status(kind, text, undo, ms = SAVED_MS) {
    clearTimeout(this.statusTimer);
    this.statusEl.dataset.kind = kind;
    this.statusText.textContent = text;
    this.undoSaveBtn.hidden = !undo;
    // A failure is read where it is said: on a phone the line under the chips may be below the fold.
    if (kind === "failed" && !this.down) this.statusEl.scrollIntoView({ block: "nearest" });
    if (ms) this.statusTimer = setTimeout(() => this.status("", "", false, 0), ms);
  }
}

export default function (component) {
  const root = component.parentElement;
  if (root.__mnist) {         // a rerun calls this again (no cleanup in between): keep the drawing
    root.__mnist.update(component);
    return () => root.__mnist && root.__mnist.cleanup();
  }
  const app = new DrawCanvas(root, component);
  root.__mnist = app;
  return () => app.cleanup();
}
