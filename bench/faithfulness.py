"""Are the attribution maps faithful? Empty maps, mass on the ink, and how
much the predicted digit's probability drops when the top-ranked pixels are
blacked out, per model and method, over the first MNIST test digits.

    python -m bench.faithfulness                                  # trains fast-cnn and strong-cnn (minutes)
    python -m bench.faithfulness --model fast-cnn=fast.h5 --model strong-cnn=strong.h5 --n 50

Goal (the map the pages show, ``CHOSEN``, on every model): at most
``EMPTY_GOAL`` empty maps (no positive mass); mass on the ink (pixels > 0.2,
dilated by 2 px) at least ``INK_GOAL`` times that region's share of the image
(1.0 = uniform); blacking out the top 10% ranked pixels lowers the predicted
digit's probability more than blacking out 10% random pixels (mean over the
images; random: mean over ``--draws`` draws). Integrated gradients, the
classic Grad-CAM and the other candidates are measured beside it.

Ranks: by the map's value, ties broken at random (so an empty map ranks like
random pixels). Integrated gradients are signed: their positive part is the
mass, and the ranking is by signed value.

The goal alone is a low bar: the image itself (brightest pixels first) meets
it, since blacking out a black pixel changes nothing. Hence two more columns:
"vs ink 10%", the drop beyond that of 10% random pixels *of the ink* (does the
map know which strokes matter?), and "r(2nd)", how alike the maps for the
predicted and the runner-up digit are (1: the map ignores the class, as the
image itself does; the pages' "why not 3?" needs it low).

Then the sanity checks of Adebayo et al. (2018, "Sanity checks for saliency
maps"), ``check``: the maps the pages show (Grad-CAM, integrated gradients)
and three maps that must fail (all zero, the image itself, a random
network's Grad-CAM), each held to the goal and to two more: the same
network with fresh random weights must rank the ink's pixels (dilated)
differently (model randomisation), and so must the map for the runner-up
digit (class): mean Spearman rank correlation below ``RANK_GOAL`` for both.
A map that ignores the model (the image, another network's map, nothing)
gets 1 on the first. tests/test_faithfulness.py holds the lab's maps to it.

What it found (fast-cnn 4 epochs, strong-cnn 3 epochs, float32, 200 digits):
the classic Grad-CAM of the last convolution was empty on 110/200 strong-cnn
digits (not saturation: the scores are the logits; the logit is almost all
batch norm shift and bias, the last convolution's own share sum(grad * act)
is about 0, and averaging the gradient over a max-pooled 8x8 map makes the
weighted sum negative everywhere, which the ReLU zeroes) and a blob on
fast-cnn (ink 1.16x: its valid convolutions' 8x8 map covers image rows 6.5
to 20.5 but was stretched over all 28). HiResCAM on the first block's output
(the pooling after the last full-resolution convolution), aligned with the
pixels, meets the goal on both and on their ensemble, beats random ink
pixels and the brightest pixels, and keeps the maps class-specific.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:
    from bench import common
except ImportError:  # run as a file from outside the lab: put the lab (cwd) on the path
    sys.path.insert(0, str(Path.cwd()))
    from bench import common

FRACTIONS = (0.0, 0.02, 0.05, 0.10, 0.15, 0.20)
GOAL_FRACTION = 0.10
EMPTY_GOAL, INK_GOAL = 1, 1.3
INK_THRESHOLD, INK_DILATION = 0.2, 2
CHOSEN = "HiResCAM block (chosen)"


def candidates(model) -> dict[str, Callable[[np.ndarray, int], np.ndarray]]:
    """Method name -> map(image, target) (28, 28)."""
    from model.insight.attribution import integrated_gradients
    from model.insight.cam import class_activation_map, conv_layers

    methods: dict[str, Callable] = {
        "the image itself": lambda im, t: im,  # a map that knows nothing of the model: the bar to clear
        "integrated gradients": lambda im, t: integrated_gradients(model, im, t),
    }
    if not conv_layers(model):
        return methods

    def variant(method: str, layer: str, input_weighted: bool = False):
        return lambda im, t: class_activation_map(model, im, t, method=method, layer=layer,
                                                  input_weighted=input_weighted)

    methods.update({
        "Grad-CAM last (before)": lambda im, t: classic_grad_cam(model, im, t),
        "Grad-CAM last, aligned": variant("gradcam", "last"),
        "Grad-CAM last x input": variant("gradcam", "last", True),
        "Grad-CAM++ last": variant("gradcam++", "last"),
        "HiResCAM last": variant("hirescam", "last"),
        "LayerCAM last": variant("layercam", "last"),
        "Grad-CAM early": variant("gradcam", "early"),
        "Grad-CAM++ early": variant("gradcam++", "early"),
        "HiResCAM early": variant("hirescam", "early"),
        "HiResCAM early x input": variant("hirescam", "early", True),
        "LayerCAM early": variant("layercam", "early"),
        "LayerCAM early x input": variant("layercam", "early", True),
        "LayerCAM all layers": variant("layercam", "all"),
        CHOSEN: variant("hirescam", "block"),
        "HiResCAM block x input": variant("hirescam", "block", True),
        "LayerCAM block": variant("layercam", "block"),
    })
    return methods


def classic_grad_cam(model, image: np.ndarray, target: int) -> np.ndarray:
    """Grad-CAM as the lab had it before (kept here as the baseline): the
    last convolution in ``model.layers`` order and the pointwise layers after
    it in that list, channel weights = the logit's gradient averaged over the
    map, ReLU, stretched bilinearly over the 28x28 image."""
    import keras
    import tensorflow as tf

    def make():
        layers = list(model.layers)
        i = max(j for j, layer in enumerate(layers) if type(layer).__name__.startswith("Conv2D"))
        while i + 1 < len(layers) and type(layers[i + 1]).__name__ in (
                "Activation", "BatchNormalization", "ReLU", "LeakyReLU", "ELU", "PReLU"):
            i += 1
        last = layers[-1]
        if isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == "softmax":
            before = last.input
            bias = last.bias if last.use_bias else 0.0

            def to_scores(h):
                return tf.matmul(h, last.kernel) + bias
        elif isinstance(last, (keras.layers.Activation, keras.layers.Softmax)):
            before = last.input

            def to_scores(h):
                return h
        else:
            before = model.outputs[0]

            def to_scores(p):
                return tf.math.log(p + 1e-9)
        inner = keras.Model(model.inputs[0], [layers[i].output, before])
        shape = tuple(model.input_shape[1:])

        @tf.function
        def cam(x, t):
            with tf.GradientTape() as tape:
                features, h = inner(tf.reshape(x, (1, *shape)), training=False)
                score = to_scores(h)[0, t]
            weights = tf.reduce_mean(tape.gradient(score, features), axis=(1, 2))
            heat = tf.nn.relu(tf.reduce_sum(features * weights[:, None, None, :], axis=-1))[..., None]
            return tf.image.resize(heat, (28, 28), method="bilinear")[0, ..., 0]
        return cam

    fn = getattr(model, "_bench_classic_grad_cam", None)
    if fn is None:
        fn = make()
        object.__setattr__(model, "_bench_classic_grad_cam", fn)
    return fn(tf.constant(image, tf.float32), tf.constant(target, tf.int32)).numpy()


def ink_region(image: np.ndarray) -> np.ndarray:
    from scipy.ndimage import binary_dilation

    return binary_dilation(image > INK_THRESHOLD, iterations=INK_DILATION)


def ranking(heat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pixel indices, highest value first, ties in random order."""
    return np.lexsort((rng.random(784), -heat.ravel()))


def deleted(image: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    out = image.ravel().copy()
    out[pixels] = 0.0
    return out.reshape(28, 28)


def measure(model, images: np.ndarray, methods: dict, draws: int, seed: int = 0) -> dict[str, dict]:
    """Per method: empty maps, ink-mass ratios, drops at each fraction; and
    the random baseline's drops ("random")."""
    from model.serving.predict import predict_batch

    probs = predict_batch(model, images)
    targets = probs.argmax(axis=1)
    p0 = probs[np.arange(len(images)), targets]
    counts = [round(f * 784) for f in FRACTIONS]
    rng = np.random.default_rng(seed)
    baseline, on_ink = [], []
    for image, t, p in zip(images, targets, p0):
        batch = [deleted(image, rng.permutation(784)[:k]) for k in counts for _ in range(draws)]
        q = predict_batch(model, np.stack(batch))[:, t].reshape(len(counts), draws).mean(axis=1)
        baseline.append(p - q)
        ink = ink_region(image).ravel()
        batch = [deleted(image, ranking(ink.astype(float), rng)[:k]) for k in counts for _ in range(draws)]
        q = predict_batch(model, np.stack(batch))[:, t].reshape(len(counts), draws).mean(axis=1)
        on_ink.append(p - q)
    results = {"random": {"drops": np.array(baseline)}, "random ink": {"drops": np.array(on_ink)}}
    runner_up = np.argsort(probs, axis=1)[:, -2]
    for name, method in methods.items():
        rng = np.random.default_rng(seed)
        empty, ratios, drops, seconds, same = 0, [], [], [], []
        for image, t, p, u in zip(images, targets, p0, runner_up):
            start = time.perf_counter()
            heat = np.asarray(method(image, int(t)), dtype=np.float64).reshape(28, 28)
            seconds.append(time.perf_counter() - start)
            positive = np.maximum(heat, 0)
            if positive.sum() <= 0:
                empty += 1
            else:
                ink = ink_region(image)
                ratios.append((positive[ink].sum() / positive.sum()) / ink.mean())
            other = np.asarray(method(image, int(u)), dtype=np.float64).ravel()
            if heat.std() > 0 and other.std() > 0:
                same.append(np.corrcoef(heat.ravel(), other)[0, 1])
            order = ranking(heat, rng)
            q = predict_batch(model, np.stack([deleted(image, order[:k]) for k in counts]))[:, t]
            drops.append(p - q)
        results[name] = {"empty": empty, "ink": float(np.mean(ratios)) if ratios else float("nan"),
                         "drops": np.array(drops), "ms": 1000 * common.median(seconds[1:] or seconds),
                         "same": float(np.mean(same)) if same else float("nan")}
    return results


# --- sanity checks (Adebayo et al. 2018, "Sanity checks for saliency maps") ------------

RANK_GOAL = 0.5  # mean Spearman rank correlation over the ink: below this, the maps differ


def randomised(model, seed: int = 0):
    """The same architecture with fresh random weights (each layer's own
    initializers, batch norm's statistics reset): the model of the model
    randomisation test. Seeds Keras, NumPy and Python's ``random`` with
    ``seed`` first (``keras.utils.set_random_seed``), so it is reproducible."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.models.clone_model(model)


def rank_agreement(a: np.ndarray, b: np.ndarray, image: np.ndarray) -> float:
    """How alike two maps rank the pixels of ``image``'s ink region (pixels >
    ``INK_THRESHOLD``, dilated by ``INK_DILATION``): the Spearman rank
    correlation over those pixels, 1 for the same order. Two maps both
    constant there rank them alike (1: an empty map is the same for every
    model and digit); one constant and one not share no order (0)."""
    from scipy.stats import spearmanr

    ink = ink_region(image)
    a = np.asarray(a, dtype=np.float64).reshape(28, 28)[ink]
    b = np.asarray(b, dtype=np.float64).reshape(28, 28)[ink]
    flat_a, flat_b = np.ptp(a) == 0, np.ptp(b) == 0
    if flat_a or flat_b:
        return 1.0 if flat_a and flat_b else 0.0
    return float(spearmanr(a, b).statistic)


@dataclass
class Verdict:
    """One map method on one model: the figures, and the checks it failed
    (empty, ink, deletion, model randomisation, class; none: it passes)."""
    empty: int  # maps with no positive mass, of n
    n: int
    ink: float  # positive mass on the ink / the ink's share of the image
    drop: float  # p(predicted) lost blacking out the top GOAL_FRACTION of pixels (mean)
    random_drop: float  # the same for random pixels
    r_random: np.ndarray  # per image: rank agreement with the same method on the randomised model
    r_class: np.ndarray  # per image: rank agreement of the maps for the predicted and the runner-up digit
    failed: list[str] = field(default_factory=list)

    def text(self) -> str:
        return (f"empty {self.empty}/{self.n}, ink {self.ink:.2f}x, drop at {GOAL_FRACTION:.0%} {self.drop:.3f} "
                f"vs random {self.random_drop:.3f}, r(random model) {self.r_random.mean():.2f} "
                f"(max {self.r_random.max():.2f}), r(runner-up) {self.r_class.mean():.2f} "
                f"(max {self.r_class.max():.2f}): {'fails ' + ', '.join(self.failed) if self.failed else 'passes'}")


def check(model, images: np.ndarray, methods: dict[str, Callable], random_model=None, draws: int = 3,
          seed: int = 0) -> dict[str, Verdict]:
    """Each map method (``method(model, image, target)`` -> (28, 28)) held to
    every check, over ``images`` and their predicted digits:

    - empty: at most ``EMPTY_GOAL`` maps without positive mass;
    - ink: positive mass on the ink at least ``INK_GOAL`` times its share;
    - deletion: blacking out the map's top ``GOAL_FRACTION`` of pixels lowers
      p(predicted) more than as many random pixels;
    - model randomisation: the map of ``random_model`` (default
      ``randomised(model)``) ranks the ink's pixels differently (mean
      ``rank_agreement`` < ``RANK_GOAL``): a map that ignores the model
      (the image itself, another network's map, all zero) gets 1;
    - class: the map for the runner-up digit ranks them differently from that
      of the predicted digit (mean < ``RANK_GOAL``): "why not 3?" needs it.

    The first three alone are met by the image itself (it is all ink, and
    blacking out a black pixel changes nothing); the last two are Adebayo et
    al.'s sanity checks (2018), which it fails."""
    from model.serving.predict import predict_batch

    random_model = randomised(model) if random_model is None else random_model
    images = np.asarray(images, dtype=np.float32)
    probs = predict_batch(model, images)
    order = np.argsort(probs, axis=1)
    kept: dict = {}

    def bound(name: str, method: Callable) -> Callable:
        def call(image: np.ndarray, target: int) -> np.ndarray:  # measure() asks twice: kept
            key = (name, image.tobytes(), int(target))
            if key not in kept:
                kept[key] = np.asarray(method(model, image, int(target)), dtype=np.float64).reshape(28, 28)
            return kept[key]
        return call

    calls = {name: bound(name, method) for name, method in methods.items()}
    results = measure(model, images, calls, draws, seed)
    i = FRACTIONS.index(GOAL_FRACTION)
    random_drop = float(results["random"]["drops"][:, i].mean())
    verdicts = {}
    for name, method in methods.items():
        r_random, r_class = [], []
        for image, (t, u) in zip(images, order[:, [-1, -2]]):
            heat = calls[name](image, t)
            r_random.append(rank_agreement(heat, method(random_model, image, int(t)), image))
            r_class.append(rank_agreement(heat, calls[name](image, u), image))
        r = results[name]
        v = Verdict(r["empty"], len(images), r["ink"], float(r["drops"][:, i].mean()), random_drop,
                    np.array(r_random), np.array(r_class))
        v.failed = [what for what, ok in (
            ("empty", v.empty <= EMPTY_GOAL), ("ink", v.ink >= INK_GOAL), ("deletion", v.drop > v.random_drop),
            ("model randomisation", v.r_random.mean() < RANK_GOAL), ("class", v.r_class.mean() < RANK_GOAL))
            if not ok]
        verdicts[name] = v
    return verdicts


PAGES = ("Grad-CAM (the pages')", "integrated gradients (the pages')")


def sanity_methods(model) -> dict[str, Callable]:
    """The maps the pages show and the maps ``check`` must reject, as
    ``method(model, image, target)``."""
    from model.insight.attribution import integrated_gradients
    from model.insight.cam import conv_layers, grad_cam

    other = randomised(model, seed=1)
    methods: dict[str, Callable] = {PAGES[1]: integrated_gradients}
    if conv_layers(model):
        methods[PAGES[0]] = grad_cam
    methods.update({
        "all zero": lambda m, im, t: np.zeros((28, 28)),
        "the image itself": lambda m, im, t: im,
        "a random network's map": (lambda m, im, t: grad_cam(other, im, t)) if conv_layers(model)
        else (lambda m, im, t: integrated_gradients(other, im, t)),
    })
    return methods


def passes(r: dict, baseline: dict) -> bool:
    i = FRACTIONS.index(GOAL_FRACTION)
    return (r["empty"] <= EMPTY_GOAL and r["ink"] >= INK_GOAL
            and r["drops"][:, i].mean() > baseline["drops"][:, i].mean())


def report(name: str, results: dict, n: int) -> list[str]:
    baseline = results["random"]
    head = (["method", "empty", "ink x"] + [f"drop {f:.0%}" for f in FRACTIONS]
            + ["vs ink 10%", "r(2nd)", "ms", "goal"])
    i = FRACTIONS.index(GOAL_FRACTION)
    rows = [[label, "-", "-"] + [f"{d:.3f}" if abs(d) >= 5e-4 else "0.000" for d in results[key]["drops"].mean(axis=0)]
            + ["", "", "", ""]
            for key, label in (("random", "random pixels"), ("random ink", "random ink pixels"))]
    passing = []
    for method, r in results.items():
        if method.startswith("random"):
            continue
        ok = passes(r, baseline)
        passing += [method] if ok else []
        ink10 = r["drops"][:, i].mean() - results["random ink"]["drops"][:, i].mean()
        rows.append([method, f"{r['empty']}/{n}", f"{r['ink']:.2f}"]
                    + [f"{d:.3f}" if abs(d) >= 5e-4 else "0.000" for d in r["drops"].mean(axis=0)]
                    + [f"{ink10:+.3f}", f"{r['same']:.2f}", f"{r['ms']:.1f}", "yes" if ok else "no"])
    print(f"\n{name}: first {n} test digits. empty: maps with no positive mass; ink x: share of the positive mass "
          f"on the ink (> {INK_THRESHOLD}, dilated {INK_DILATION} px) / the ink's share of the image; drop f: "
          "p(predicted) before - after blacking out the top f of pixels (mean); vs ink 10%: drop at 10% minus "
          "that of 10% random pixels of the ink; r(2nd): correlation of the maps for the predicted and the "
          "runner-up digit (1: the map ignores the class); goal: empty, ink and drop at 10% > random pixels")
    print(common.table(head, rows), flush=True)
    return passing


def load(spec: str):
    from model.serving.predict import load_classifier

    name, _, path = spec.partition("=")
    return (name, load_classifier(Path(path))) if path else (Path(name).stem, load_classifier(Path(name)))


def train(preset: str):
    from model.data.mnist import load_mnist
    from model.training.config import PRESETS
    from model.training.fit import fit

    t = time.perf_counter()
    model, _ = fit(PRESETS[preset], load_mnist()[0])
    print(f"trained {preset} in {time.perf_counter() - t:.0f} s", flush=True)
    return preset, model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="a model file to measure (repeatable); default: train fast-cnn and strong-cnn")
    parser.add_argument("--ensemble", action="store_true", help="also measure the models averaged (model.training.ensemble)")
    parser.add_argument("--n", type=int, default=50, help="first N test digits (default 50)")
    parser.add_argument("--draws", type=int, default=5, help="random deletions averaged per image and fraction")
    parser.add_argument("--methods", default="", help="only the methods whose names contain one of these "
                        "comma-separated words (case-insensitive; default: all)")
    args = parser.parse_args(argv)
    common.header("faithfulness: do the attribution maps point at what the model uses?",
                  f"{CHOSEN}: <= {EMPTY_GOAL} empty maps, ink mass >= {INK_GOAL}x its share, blacking out its "
                  f"top {GOAL_FRACTION:.0%} pixels drops p(predicted) more than {GOAL_FRACTION:.0%} random pixels; "
                  f"the pages' maps pass the sanity checks (rank correlation with a random network's map and "
                  f"with the runner-up's map < {RANK_GOAL}), the broken maps fail them")
    from model.data.mnist import load_mnist
    from model.data.preprocess import scale_images
    from model.logs import quiet_tensorflow

    quiet_tensorflow()
    models = dict(load(spec) for spec in args.model) if args.model else dict(map(train, ("fast-cnn", "strong-cnn")))
    if args.ensemble and len(models) > 1:
        from model.training.ensemble import combine

        models["ensemble"] = combine(list(models.values()))
    images = scale_images(load_mnist()[1][0][:args.n]).astype(np.float32)
    verdicts = {}
    for name, model in models.items():
        methods = candidates(model)
        words = [w.strip().lower() for w in args.methods.split(",") if w.strip()]
        if words:
            methods = {k: v for k, v in methods.items() if any(w in k.lower() for w in words)}
        results = measure(model, images, methods, args.draws)
        passing = report(name, results, args.n)
        print(f"meeting the goal on {name}: {', '.join(passing) or 'none'}")
        sane = check(model, images, sanity_methods(model), draws=args.draws)
        print(f"\nsanity checks on {name} ({args.n} digits; r: mean Spearman rank correlation over the ink, "
              f"dilated, goal < {RANK_GOAL}):")
        for method, v in sane.items():
            print(f"  {method}: {v.text()}")
        pages = [m for m in sane if m in PAGES]
        broken_pass = [m for m in sane if m not in PAGES and not sane[m].failed]
        ok = all(not sane[m].failed for m in pages) and not broken_pass
        text = f"{name}: " + "; ".join(f"{m} {'passes' if not sane[m].failed else 'fails ' + ', '.join(sane[m].failed)}"
                                       for m in pages)
        text += f", broken maps passing: {', '.join(broken_pass) or 'none'}"
        if CHOSEN in results:
            r, i = results[CHOSEN], FRACTIONS.index(GOAL_FRACTION)
            text += (f"; {CHOSEN}: {r['empty']} empty, ink {r['ink']:.2f}x, drop at 10% {r['drops'][:, i].mean():.3f} "
                     f"vs random {results['random']['drops'][:, i].mean():.3f}")
            verdicts[name] = (CHOSEN in passing and ok, text)
        else:
            verdicts[name] = (ok, text + " (no convolution)")
    print()
    common.footer()
    common.verdict(all(ok for ok, _ in verdicts.values()), "; ".join(text for _, text in verdicts.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
