// The browser's copy of model/data/preprocess.py: canvas_to_mnist and drawing_advice, step by
// step, with the same constants, thresholds and arithmetic (float32 where NumPy computes in
// float32, Python's round-half-to-even, NumPy's pairwise sums, SciPy's linear interpolation and
// grey dilation and erosion, Pillow's box reduction and Lanczos resampling), so that a drawing
// becomes the same 28x28 image here as on the server. tests/browser/test_draw.py holds the two
// to it on 1,000 drawings (1/255 per pixel). When preprocess.py changes, change this with it.
//
// Images are {data: Float32Array | Float64Array | Uint8Array, h, w}, row-major.

const F = Math.fround;
export const DIGIT_BOX = 20;
export const SIZE = 28;
export const INK_LEVEL = 0.2;
export const MIN_DRAWING_FRACTION = 0.08;
export const SMALL_DRAWING_FRACTION = 0.35;
export const OFF_CENTRE_FRACTION = 0.25;
export const MNIST_STROKE_WIDTH = 2.7;
export const MNIST_STROKE_WIDTHS = [1.75, 4.16];
export const MNIST_SLANTS = [-0.58, 0.33];
export const MAX_SHEAR = 0.6;
// NumPy 2 compares a float32 array with a Python float in float32: 0.2 -> 0.200000003
const INK32 = F(INK_LEVEL);

export class DrawingError extends Error {
  constructor(kind, message) { super(message); this.kind = kind; }
}

// ------------------------------------------------------------------ NumPy's arithmetic

// numpy's round() of a float: half to even
function roundHalfEven(x) {
  const r = Math.round(x);
  return (Math.abs(x % 1) === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

// numpy's add.reduce of a contiguous run: pairwise summation (8 accumulators up to 128 items,
// halves above), in float32 (f32) or float64
function pairwise(a, off, n, stride, f32) {
  return f32 ? pairwise32(a, off, n, stride) : pairwise64(a, off, n, stride);
}

function pairwise32(a, off, n, stride) {
  if (n < 8) {
    let res = -0.0;
    for (let i = 0; i < n; i++) res = F(res + a[off + i * stride]);
    return res;
  }
  if (n <= 128) {
    let r0 = a[off], r1 = a[off + stride], r2 = a[off + 2 * stride], r3 = a[off + 3 * stride];
    let r4 = a[off + 4 * stride], r5 = a[off + 5 * stride], r6 = a[off + 6 * stride], r7 = a[off + 7 * stride];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      const o = off + i * stride;
      r0 = F(r0 + a[o]); r1 = F(r1 + a[o + stride]); r2 = F(r2 + a[o + 2 * stride]); r3 = F(r3 + a[o + 3 * stride]);
      r4 = F(r4 + a[o + 4 * stride]); r5 = F(r5 + a[o + 5 * stride]); r6 = F(r6 + a[o + 6 * stride]); r7 = F(r7 + a[o + 7 * stride]);
    }
    let res = F(F(F(r0 + r1) + F(r2 + r3)) + F(F(r4 + r5) + F(r6 + r7)));
    for (; i < n; i++) res = F(res + a[off + i * stride]);
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return F(pairwise32(a, off, n2, stride) + pairwise32(a, off + n2 * stride, n - n2, stride));
}

function pairwise64(a, off, n, stride) {
  if (n < 8) {
    let res = -0.0;
    for (let i = 0; i < n; i++) res += a[off + i * stride];
    return res;
  }
  if (n <= 128) {
    let r0 = a[off], r1 = a[off + stride], r2 = a[off + 2 * stride], r3 = a[off + 3 * stride];
    let r4 = a[off + 4 * stride], r5 = a[off + 5 * stride], r6 = a[off + 6 * stride], r7 = a[off + 7 * stride];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      const o = off + i * stride;
      r0 += a[o]; r1 += a[o + stride]; r2 += a[o + 2 * stride]; r3 += a[o + 3 * stride];
      r4 += a[o + 4 * stride]; r5 += a[o + 5 * stride]; r6 += a[o + 6 * stride]; r7 += a[o + 7 * stride];
    }
    let res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
    for (; i < n; i++) res += a[off + i * stride];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwise64(a, off, n2, stride) + pairwise64(a, off + n2 * stride, n - n2, stride);
}

// numpy's sum of a contiguous array: one pairwise run
function sumAll(a, n, f32) {
  return f32 ? F(0 + pairwise32(a, 0, n, 1)) : 0 + pairwise64(a, 0, n, 1);
}

// numpy's sum of a 2-D view that is not contiguous (h rows of w): copied into buffers of
// 8192 items (whole rows), each summed pairwise, the buffers' sums added in turn
function sumView(a, h, w) {
  const rows = Math.max(1, Math.floor(8192 / w));
  let acc = 0;
  for (let y = 0; y < h; y += rows) acc = F(acc + pairwise32(a, y * w, Math.min(rows, h - y) * w, 1));
  return acc;
}

// ------------------------------------------------------------------ the steps

// to_grayscale: RGBA uint8 -> float32 brightness in [0, 1] (transparent pixels carry no ink)
const OPAQUE = new Float32Array(256);                 // an opaque pixel's brightness, by its max channel
for (let m = 0; m < 256; m++) OPAQUE[m] = F(F(m * F(255 / 255)) / 255);

export function toGrayscale(rgba, h, w) {
  const gray = new Float32Array(h * w);
  for (let i = 0, p = 0; i < h * w; i++, p += 4) {
    const r = rgba[p], g = rgba[p + 1], b = rgba[p + 2], a = rgba[p + 3];
    const m = r > g ? (r > b ? r : b) : (g > b ? g : b);
    gray[i] = a === 255 ? OPAQUE[m] : F(F(m * F(a / 255)) / 255);   // in [0, 1]: np.clip changes nothing
  }
  return { data: gray, h, w };
}

// (top, bottom, left, right) of the true items of a mask, bottom and right exclusive
export function inkBox(mask, h, w) {
  let top = h, bottom = -1, left = w, right = -1;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (mask[row + x]) {
        if (y < top) top = y;
        bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  return bottom < 0 ? null : [top, bottom + 1, left, right + 1];
}

function crop(img, top, bottom, left, right, Type) {
  const h = bottom - top, w = right - left;
  const out = new (Type || img.data.constructor)(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = img.data[(top + y) * img.w + left + x];
  return { data: out, h, w };
}

// gray.min(), gray.max(), the ink (gray >= INK_LEVEL), its ink_box and ink.all(), in one pass
function scan(img) {
  const { data, h, w } = img;
  const ink = new Uint8Array(h * w);
  let min = Infinity, max = -Infinity, top = h, bottom = -1, left = w, right = -1, count = 0;
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i++) {
      const v = data[i];
      if (v < min) min = v;
      if (v > max) max = v;
      if (v >= INK32) {
        ink[i] = 1;
        count++;
        if (y < top) top = y;
        bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  return { min, max, ink, box: bottom < 0 ? null : [top, bottom + 1, left, right + 1], all: count === h * w };
}

function inkMask(img) {
  const m = new Uint8Array(img.h * img.w);
  for (let i = 0; i < m.length; i++) m[i] = img.data[i] >= INK32 ? 1 : 0;
  return m;
}

export function canvasToMnist(rgba, h, w, { normalizeWidth = true, normalizeSlant = true } = {}) {
  const gray = toGrayscale(rgba, h, w);
  const { min, max, ink, box, all } = scan(gray);
  if (F(max - min) < INK32) throw new DrawingError("empty", "nothing is drawn: the canvas is blank or uniform");
  if (all) throw new DrawingError("empty", "the whole canvas is ink: clear it and draw one digit");
  const [top, bottom, left, right] = box;
  if (Math.max(bottom - top, right - left) < MIN_DRAWING_FRACTION * Math.max(h, w)) {
    throw new DrawingError("small", "the drawing is too small to read: draw the digit larger");
  }
  // the crop is a view of gray in numpy (not contiguous): that matters to clamp_slant's sums
  let c = crop(gray, top, bottom, left, right);
  let contiguous = right - left === w;                 // whole rows: a contiguous view
  if (normalizeSlant) [c, contiguous] = clampSlant(c, contiguous);
  if (normalizeWidth) c = clampStrokeWidth(c);
  return centreByMass(fitBox(c, DIGIT_BOX), SIZE);
}

// slant: dx/dy of the ink's second moments (float64, as numpy sums them)
export function slant(img) {
  const { h, w } = img, n = h * w;
  const a = Float64Array.from(img.data);
  const tmp = new Float64Array(n);
  const mass = Math.max(sumAll(a, n, false), 1e-12);
  for (let y = 0, i = 0; y < h; y++) for (let x = 0; x < w; x++, i++) tmp[i] = y * a[i];
  const cy = sumAll(tmp, n, false) / mass;
  for (let y = 0, i = 0; y < h; y++) for (let x = 0; x < w; x++, i++) tmp[i] = x * a[i];
  const cx = sumAll(tmp, n, false) / mass;
  for (let y = 0, i = 0; y < h; y++) {
    const dy = y - cy;
    for (let x = 0; x < w; x++, i++) tmp[i] = dy * dy * a[i];
  }
  const varY = sumAll(tmp, n, false) / mass;
  for (let y = 0, i = 0; y < h; y++) {
    const dy = y - cy;
    for (let x = 0; x < w; x++, i++) tmp[i] = (x - cx) * dy * a[i];
  }
  const cov = sumAll(tmp, n, false) / mass;
  return varY > 1e-6 ? cov / Math.max(varY, 1e-6) : 0.0;
}

const clip = (v, lo, hi) => (v < lo ? lo : v > hi ? hi : v);

// clamp_slant: a slant outside MNIST's range sheared back to its nearer edge (rows kept, each
// shifted sideways about the centre of mass; SciPy's affine_transform, order 1, cval 0), then
// cropped to the ink again. Returns [crop, contiguous].
export function clampSlant(img, contiguous) {
  const now = slant(img);
  const shear = clip(now - clip(now, MNIST_SLANTS[0], MNIST_SLANTS[1]), -MAX_SHEAR, MAX_SHEAR);
  if (Math.abs(shear) < 1e-3) return [img, contiguous];
  const { h, w, data } = img;
  // cy = (arange(h) * crop.sum(axis=1)).sum() / crop.sum(), numpy's sums in float32
  const rows = new Float64Array(h);
  for (let y = 0; y < h; y++) rows[y] = y * F(0 + pairwise32(data, y * w, w, 1));
  const total = contiguous ? sumAll(data, h * w, true) : sumView(data, h, w);
  const cy = sumAll(rows, h, false) / total;
  const pad = Math.ceil(Math.abs(shear) * h) + 1;
  const W = w + 2 * pad;
  const offset = -shear * cy;
  const out = new Float32Array(h * W);
  for (let r = 0; r < h; r++) {
    const row = r * w - pad;                           // padded column xx is data[row + xx]
    for (let col = 0; col < W; col++) {
      let x = 0.0;
      x += r * shear;
      x += col * 1.0;
      x += offset;
      if (x < 0 || x > W - 1) continue;               // outside the input: cval 0
      const x0 = Math.floor(x), t = x - x0;
      const v0 = x0 >= pad && x0 < pad + w ? data[row + x0] : 0;
      const v1 = x0 + 1 >= pad && x0 + 1 < pad + w ? data[row + x0 + 1] : 0;
      out[r * W + col] = (1 - t) * v0 + t * v1;
    }
  }
  const sheared = { data: out, h, w: W };
  const box = inkBox(inkMask(sheared), h, W);
  if (box === null) return [img, contiguous];          // a faint hairline lost in the interpolation
  return [crop(sheared, ...box), true];
}

// ------------------------------------------------------------------ stroke width

// SciPy's binary_erosion (cross, border 0): an ink pixel whose four neighbours are ink
export function strokeWidth(mask, h, w) {
  let area = 0, boundary = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = y * w + x;
    if (!mask[i]) continue;
    area++;
    const inner = y > 0 && y < h - 1 && x > 0 && x < w - 1 && mask[i - w] && mask[i + w] && mask[i - 1] && mask[i + 1];
    if (!inner) boundary++;
  }
  return 2.0 * area / Math.max(1, boundary);
}

// the ink at half its peak brightness (a soft, faint or anti-aliased edge counts half)
function halfPeak(img) {
  const { data } = img;
  let peak = -Infinity;
  for (let i = 0; i < data.length; i++) if (data[i] > peak) peak = data[i];
  const t = 0.5 * peak;                               // exact: half of a float32
  const m = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) m[i] = data[i] >= t ? 1 : 0;
  return m;
}

// crop_stroke_width: the stroke width in pixels of the ``box`` the longer side is scaled to
export function cropStrokeWidth(img, box = DIGIT_BOX) {
  return strokeWidth(halfPeak(img), img.h, img.w) * box / Math.max(img.h, img.w);
}

// clamp_stroke_width: strokes thinner or thicker than MNIST's range redrawn at its nearer edge
export function clampStrokeWidth(img, span = MNIST_STROKE_WIDTHS) {
  const width = cropStrokeWidth(img);
  const target = clip(width, span[0], span[1]);
  return target === width ? img : normalizeStrokeWidth(img, target);
}

// scipy.ndimage's 'reflect' mode: d c b a | a b c d | d c b a
function reflect(i, n) {
  const period = 2 * n;
  i = ((i % period) + period) % period;
  return i < n ? i : period - 1 - i;
}

// _disc(radius): the half-widths of the disc's rows dy = -r..r (r = int(radius)), where
// dx * dx + dy * dy <= radius * radius
function discRows(radius) {
  const r = Math.trunc(radius), r2 = radius * radius, rows = [];
  for (let dy = -r; dy <= r; dy++) {
    let hw = 0;
    while ((hw + 1) * (hw + 1) + dy * dy <= r2) hw++;
    rows.push(hw);
  }
  return rows;
}

// SciPy's grey_dilation (max) or grey_erosion (min) with the disc of ``radius`` as footprint,
// mode 'reflect': row by row, the max (min) over widening horizontal windows, then over the
// disc's rows. Only comparisons: the result is exact.
function discFilter(img, radius, dilate) {
  const { data, h, w } = img, n = h * w;
  const rows = discRows(radius), r = (rows.length - 1) / 2;
  const widest = Math.max(...rows);
  const sign = dilate ? 1 : -1;                       // min(a, b) = -max(-a, -b): one loop for both
  const src = new Float32Array(n);
  for (let i = 0; i < n; i++) src[i] = sign * data[i];
  const windows = [src];                              // windows[k]: the max over [x - k, x + k]
  const left = new Int32Array(w), right = new Int32Array(w);
  for (let k = 1; k <= widest; k++) {
    for (let x = 0; x < w; x++) { left[x] = reflect(x - k, w); right[x] = reflect(x + k, w); }
    const prev = windows[k - 1], next = new Float32Array(n);
    for (let y = 0, row = 0; y < h; y++, row += w) {
      for (let x = 0; x < w; x++) {
        let v = prev[row + x];
        const a = src[row + left[x]], b = src[row + right[x]];
        if (a > v) v = a;
        if (b > v) v = b;
        next[row + x] = v;
      }
    }
    windows.push(next);
  }
  const out = new Float32Array(n);
  out.fill(-Infinity);
  for (let i = 0; i < rows.length; i++) {
    const win = windows[rows[i]];
    for (let y = 0; y < h; y++) {
      const from = reflect(y + i - r, h) * w, to = y * w;
      for (let x = 0; x < w; x++) if (win[from + x] > out[to + x]) out[to + x] = win[from + x];
    }
  }
  if (!dilate) for (let i = 0; i < n; i++) out[i] = -out[i];
  return { data: out, h, w };
}

function padZeros(img, pad) {
  const { data, h, w } = img, W = w + 2 * pad, out = new Float32Array((h + 2 * pad) * W);
  for (let y = 0; y < h; y++) out.set(data.subarray(y * w, (y + 1) * w), (y + pad) * W + pad);
  return { data: out, h: h + 2 * pad, w: W };
}

// normalize_stroke_width: strokes redrawn (a grey dilation or erosion with a disc: the ink keeps
// its own brightness and soft edges) so they come out ``target`` wide in the digit box
export function normalizeStrokeWidth(img, target = MNIST_STROKE_WIDTH, box = DIGIT_BOX) {
  const { h, w } = img;
  const side = Math.max(h, w);
  const width = strokeWidth(halfPeak(img), h, w);
  const grow = (target * side / box - width) / (1 - target / box);
  if (Math.abs(grow) < 1.0 || side < 2 * box) return img;
  const r = grow / 2;
  const redrawn = r > 0
    ? discFilter(padZeros(img, Math.ceil(r) + 1), r, true)
    : discFilter(img, -Math.max(r, 1.0 - width / 2), false);
  const b = inkBox(inkMask(redrawn), redrawn.h, redrawn.w);
  if (b === null) return img;
  return crop(redrawn, ...b);
}

// ------------------------------------------------------------------ Pillow's resize

// Image.reduce of a mode "F" image: block means (ImagingReduceNxN_32bpc, then the partial
// blocks of the last column and row, ImagingReduceCorners_32bpc)
function reduceF(img, fx, fy) {
  const { h, w, data } = img;
  const W = Math.ceil(w / fx), H = Math.ceil(h / fy);
  const out = new Float32Array(W * H);
  const mult = 1.0 / (fy * fx);
  for (let y = 0; y < Math.floor(h / fy); y++) {
    const y0 = y * fy;
    for (let x = 0; x < Math.floor(w / fx); x++) {
      const x0 = x * fx;
      let ss = 0, yy = y0, xx;
      for (; yy < y0 + fy - 1; yy += 2) {
        for (xx = x0; xx < x0 + fx - 1; xx += 2) { const i = yy * w + xx; ss += F(F(F(data[i] + data[i + 1]) + data[i + w]) + data[i + w + 1]); }
        if (fx & 1) ss += F(data[yy * w + xx] + data[(yy + 1) * w + xx]);
      }
      if (fy & 1) {
        for (xx = x0; xx < x0 + fx - 1; xx += 2) ss += F(data[yy * w + xx] + data[yy * w + xx + 1]);
        if (fx & 1) ss += data[yy * w + xx];
      }
      out[y * W + x] = ss * mult;
    }
  }
  const corner = (x, y, xa, xb, ya, yb, count) => {
    let ss = 0;
    for (let yy = ya; yy < yb; yy++) for (let xx = xa; xx < xb; xx++) ss += data[yy * w + xx];
    out[y * W + x] = ss * (1.0 / count);
  };
  const fullX = Math.floor(w / fx), fullY = Math.floor(h / fy);
  if (w % fx) for (let y = 0; y < fullY; y++) corner(fullX, y, fullX * fx, w, y * fy, y * fy + fy, (w % fx) * fy);
  if (h % fy) for (let x = 0; x < fullX; x++) corner(x, fullY, x * fx, x * fx + fx, fullY * fy, h, fx * (h % fy));
  if (w % fx && h % fy) corner(fullX, fullY, fullX * fx, w, fullY * fy, h, (w % fx) * (h % fy));
  return { data: out, h: H, w: W };
}

function sinc(x) {
  if (x === 0.0) return 1.0;
  x = x * Math.PI;
  return Math.sin(x) / x;
}
const lanczos = (x) => (-3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0);

// precompute_coeffs (Resample.c): in0 and in1 are C floats
function coefficients(inSize, in0, in1, outSize) {
  in0 = F(in0); in1 = F(in1);
  let scale = F(in1 - in0) / outSize, filterscale = scale;
  if (filterscale < 1.0) filterscale = 1.0;
  const support = 3.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const kk = new Float64Array(outSize * ksize), bounds = new Int32Array(outSize * 2);
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    let ww = 0.0;
    const ss = 1.0 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    for (let x = 0; x < xmax; x++) {
      const wgt = lanczos((x + xmin - center + 0.5) * ss);
      kk[xx * ksize + x] = wgt;
      ww += wgt;
    }
    for (let x = 0; x < xmax; x++) if (ww !== 0.0) kk[xx * ksize + x] /= ww;
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, kk, bounds };
}

// ImagingResample with the Lanczos filter on a mode "F" image, box (x0, y0, x1, y1)
function resampleF(img, outW, outH, box) {
  let { h, w, data } = img;
  const needH = outW !== w || F(box[0]) !== 0 || F(box[2]) !== outW;
  const needV = outH !== h || F(box[1]) !== 0 || F(box[3]) !== outH;
  const ch = coefficients(w, box[0], box[2], outW), cv = coefficients(h, box[1], box[3], outH);
  if (needH) {
    const tmp = new Float32Array(outW * h);
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < outW; xx++) {
        const xmin = ch.bounds[xx * 2], xmax = ch.bounds[xx * 2 + 1], k = xx * ch.ksize;
        let ss = 0.0;
        for (let x = 0; x < xmax; x++) ss += data[y * w + x + xmin] * ch.kk[k + x];
        tmp[y * outW + xx] = ss;
      }
    }
    data = tmp; w = outW;
  }
  if (needV) {
    const out = new Float32Array(w * outH);
    for (let yy = 0; yy < outH; yy++) {
      const ymin = cv.bounds[yy * 2], ymax = cv.bounds[yy * 2 + 1], k = yy * cv.ksize;
      for (let xx = 0; xx < w; xx++) {
        let ss = 0.0;
        for (let y = 0; y < ymax; y++) ss += data[(y + ymin) * w + xx] * cv.kk[k + y];
        out[yy * w + xx] = ss;
      }
    }
    data = out; h = outH;
  }
  return { data, h, w };
}

// Image.resize(size, LANCZOS, reducing_gap=3.0) of a mode "F" image
function resizeLanczos(img, outW, outH) {
  if (outW === img.w && outH === img.h) return { data: Float32Array.from(img.data), h: img.h, w: img.w };
  let box = [0, 0, img.w, img.h];
  const fx = Math.trunc(img.w / outW / 3.0) || 1, fy = Math.trunc(img.h / outH / 3.0) || 1;
  if (fx > 1 || fy > 1) {
    // the safe box of a whole image is the whole image
    img = reduceF(img, fx, fy);
    box = [0, 0, box[2] / fx, box[3] / fy];
  }
  return resampleF(img, outW, outH, box);
}

// _fit_box: the longer side scaled to ``box`` pixels, keeping the aspect ratio
export function fitBox(img, box) {
  const { h, w } = img;
  const scale = box / Math.max(h, w);
  const outW = Math.max(1, roundHalfEven(w * scale)), outH = Math.max(1, roundHalfEven(h * scale));
  const resized = resizeLanczos({ data: Float32Array.from(img.data), h, w }, outW, outH);
  for (let i = 0; i < resized.data.length; i++) resized.data[i] = clip(resized.data[i], 0.0, 1.0);
  return resized;
}

// _centre_by_mass: the digit in a size x size image, shifted by whole pixels so its centre of mass
// is on pixel (size / 2, size / 2), as MNIST's are
export function centreByMass(digit, size) {
  const { h, w, data } = digit, n = h * w;
  const mass = sumAll(data, n, true);
  const t = new Float64Array(n);
  for (let y = 0, i = 0; y < h; y++) for (let x = 0; x < w; x++, i++) t[i] = y * data[i];
  const cy = sumAll(t, n, false) / mass;
  for (let y = 0, i = 0; y < h; y++) for (let x = 0; x < w; x++, i++) t[i] = x * data[i];
  const cx = sumAll(t, n, false) / mass;
  const top = Math.trunc(clip(roundHalfEven(size / 2 - cy), 0, size - h));
  const left = Math.trunc(clip(roundHalfEven(size / 2 - cx), 0, size - w));
  const out = new Float32Array(size * size);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[(top + y) * size + left + x] = data[y * w + x];
  return out;
}

// drawing_advice: a word for a drawing read less surely than it could be, else null
export function drawingAdvice(rgba, h, w) {
  const { box, all } = scan(toGrayscale(rgba, h, w));
  if (box === null || all) return null;
  const [top, bottom, left, right] = box;
  const side = Math.max(h, w);
  if (Math.max(bottom - top, right - left) < SMALL_DRAWING_FRACTION * side) {
    return "The digit is small: draw it larger, filling most of the canvas, for a surer reading.";
  }
  const my = (top + bottom - 1) / 2, mx = (left + right - 1) / 2;
  if (Math.max(Math.abs(my - h / 2), Math.abs(mx - w / 2)) > OFF_CENTRE_FRACTION * side) {
    return "The digit is far from the middle: draw it in the middle of the canvas for a surer reading.";
  }
  return null;
}
