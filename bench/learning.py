"""How fast does the lab learn a handwriting style from its visitors' drawings?
The learning curve (saved drawings -> accuracy on the rest of the style) of
the two ways a retraining can run: training the model's recipe again from
scratch with the drawings, or fine-tuning the current model with them
(``model.training.config.fine_tuning``: its recipe from its own weights, a few
epochs at a fraction of its learning rate; what ``jobs.submit_retraining`` runs).

    python -m bench.learning                          # fast-cnn, 100/200/400/600 drawings
    python -m bench.learning --bases fast-cnn,strong-cnn --runs /path/to/work   # reuse kept base runs
    python -m bench.learning --counts 600 --variants 1x0.1,2x0.2,3x0.3
    python -m bench.learning --counts 600,6000 --sessions 300 --scratch ""   # more drawings, the cap not binding
    python -m bench.learning --counts 600 --scratch "" --ceiling 20000      # and the network on the style alone

The style is one no recipe here imitates: ``bench.drawings``' thin, narrow,
left-leaning pen, with continental shapes (a 1 with a flag and a foot, a
crossed 7, a closed 4, an 8 of two loops, a 3 with a flat top, a 2 with a
loop), each drawing bent by a smooth random displacement (``--warp``) so
that no two are alike, as with real writers. Drawings are saved through ``model.lab.drawings`` (their held-out fifth
is never trained on; the fine-tuning variant is chosen on it), the trainings
run through ``model.lab.runs.train``, and each model is scored on 500 other
drawings of the style (another seed, never saved) and MNIST's test set.

Goal (issue 23): 600 drawings -> the rest of the style read at >= 98%, MNIST
test >= 99.0%, with the retraining's default.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from bench.common import footer, header, table, temp_dir, verdict  # noqa: E402
from bench.drawings import as_mnist, style_digits  # noqa: E402
from model.data.strokes import _arc  # noqa: E402
from model.training.config import (DRAWINGS_WEIGHT, FINE_TUNE_EPOCHS, FINE_TUNE_LR_FACTOR, PRESETS,  # noqa: E402
                                   fine_tuning)

# Continental shapes (unit box, x right, y down): digits MNIST's writers mostly draw otherwise.
GLYPHS = {
    1: [[(0.34, 0.32), (0.56, 0.14), (0.56, 0.86)], [(0.38, 0.86), (0.74, 0.86)]],
    2: [_arc(0.5, 0.32, 0.18, 0.17, 190, 380, 14) + [(0.34, 0.8)] + _arc(0.38, 0.78, 0.07, 0.06, 270, 630, 12)
        + [(0.74, 0.86)]],
    3: [[(0.3, 0.15), (0.7, 0.15), (0.46, 0.44)] + _arc(0.49, 0.66, 0.2, 0.2, -90, 150, 16)],
    4: [[(0.64, 0.86), (0.64, 0.14), (0.26, 0.62), (0.78, 0.62)]],
    7: [[(0.28, 0.2), (0.34, 0.15), (0.72, 0.15), (0.44, 0.86)], [(0.36, 0.5), (0.7, 0.5)]],
    8: [_arc(0.5, 0.3, 0.14, 0.15, 0, 360, 20), _arc(0.5, 0.67, 0.19, 0.19, 0, 360, 24)],
}
SCORE_PER_DIGIT = 50
WARP = 0.06  # each drawing's shape bent by a smooth random displacement of 6% of its height
SESSIONS = 20


def parse_variants(text: str) -> list[tuple[int, float]]:
    """"2x0.2,1x0.1" -> [(2, 0.2), (1, 0.1)]: epochs x learning-rate factor."""
    return [(int(e), float(f)) for e, f in (part.split("x") for part in text.split(",") if part)]


def base_run(preset: str, root: Path, runs: Path | None):
    """The preset's run in ``root``: copied from the kept runs of ``runs`` when
    there, else trained here."""
    from model.lab import store
    from model.lab.runs import train

    key = PRESETS[preset].key()
    if runs is not None and store.load_run_meta(key, runs) is not None and store.load_run_meta(key, root) is None:
        shutil.copytree(store.run_dir(key, runs), store.run_dir(key, root))
        print(f"{preset}: kept run {key} copied from {runs}", flush=True)
    started = time.perf_counter()
    result = train(PRESETS[preset], root=root, make_current=False)
    print(f"{preset}: {result.metrics['test_accuracy']:.2%} on MNIST "
          f"({'kept' if result.cached else f'trained in {time.perf_counter() - started:.0f} s'})", flush=True)
    return result


CEILING_EPOCHS = 8


def ceiling(preset: str, n: int, warp: float, test_x: np.ndarray, test_labels: np.ndarray) -> float:
    """The style read by the preset's network trained on ``n`` drawings of it
    alone (another seed than the saved and the scored ones): an upper bound
    of what drawings can teach that network, whatever the training's way."""
    from model.serving.evaluate import evaluate
    from model.training.fit import fit

    canvases, labels = style_digits(-(-n // 10), seed=3, glyphs=GLYPHS, warp=warp)
    x = as_mnist(canvases)
    order = np.random.default_rng(0).permutation(len(labels))
    model, _ = fit(dataclasses.replace(PRESETS[preset], epochs=CEILING_EPOCHS), (x[order], labels[order]))
    return evaluate(model, test_x, test_labels).accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bases", default="fast-cnn", help="presets to start from (default fast-cnn)")
    parser.add_argument("--counts", default="100,200,400,600", help="saved drawings along the curve")
    parser.add_argument("--variants", default=f"{FINE_TUNE_EPOCHS}x{FINE_TUNE_LR_FACTOR}",
                        help="fine-tunings to compare: EPOCHSxLR_FACTOR, comma-separated")
    parser.add_argument("--scratch", default="fast-cnn",
                        help="presets also trained from scratch with the drawings (strong-cnn: 13 min each here)")
    parser.add_argument("--weight", type=int, default=DRAWINGS_WEIGHT,
                        help=f"drawings weight of every training (default {DRAWINGS_WEIGHT}, the lab's)")
    parser.add_argument("--warp", type=float, default=WARP, help=f"how much the shapes vary (default {WARP})")
    parser.add_argument("--runs", type=Path, default=None, help="a work folder whose kept base runs to reuse")
    parser.add_argument("--ceiling", type=int, default=0,
                        help="also train each base's recipe on this many drawings of the style alone (no MNIST, "
                             "no cap): how well the network can read the style at all")
    parser.add_argument("--augment", default=None, type=lambda text: tuple(float(v) for v in text.split(",")),
                        help="PLACEMENT,PEN: the fine-tunings' distortions (model.data.augment) instead of the recipe's")
    parser.add_argument("--sessions", type=int, default=SESSIONS,
                        help=f"visitor sessions the drawings come from (default {SESSIONS}; each trains at most "
                             "model.lab.drawings.TRAIN_PER_SESSION)")
    args = parser.parse_args()
    bases, scratch = args.bases.split(","), [p for p in args.scratch.split(",") if p]
    counts, variants = [int(n) for n in args.counts.split(",")], parse_variants(args.variants)
    header("learning a new handwriting style from saved drawings: fine-tuning vs from scratch",
           "600 drawings -> the rest of the style >= 98%, MNIST test >= 99.0% (the retraining's default)")

    from model.data.mnist import load_mnist
    from model.data.preprocess import canvas_to_mnist
    from model.lab import drawings
    from model.lab.runs import train
    from model.logs import quiet_tensorflow
    from model.serving.evaluate import evaluate

    quiet_tensorflow()
    load_mnist()
    per_digit = -(-max(counts) // 10)
    canvases, labels = style_digits(per_digit, seed=1, glyphs=GLYPHS, warp=args.warp)
    order = np.random.default_rng(0).permutation(len(labels))  # the first n saved are a mixed handful
    canvases, labels = canvases[order], labels[order]
    test_canvases, test_labels = style_digits(SCORE_PER_DIGIT, seed=2, glyphs=GLYPHS, warp=args.warp)
    test_x = as_mnist(test_canvases)
    rows, results = [], {}

    def score(name: str, n: int, config, held) -> None:
        started = time.perf_counter()
        result = train(config, root=root, make_current=False)
        seconds = time.perf_counter() - started
        style = evaluate(result.model, test_x, test_labels).accuracy
        held_acc = evaluate(result.model, held.x, held.y).accuracy if len(held) else float("nan")
        mnist = result.metrics["test_accuracy"]
        results[name, n] = (style, held_acc, mnist, seconds)
        rows.append([name, n, f"{style:.2%}", f"{held_acc:.2%}", f"{mnist:.2%}", f"{seconds:.0f} s"])
        print(f"{name:34s} {n:4d} drawings: style {style:.4f}  held out {held_acc:.4f}  MNIST {mnist:.4f}  "
              f"({seconds:.0f} s)", flush=True)

    with temp_dir("learning") as root:
        os.environ["MNIST_LAB_DIR"] = str(root)
        os.environ.pop("MNIST_LAB_DATABASE_URL", None)
        base = {preset: base_run(preset, root, args.runs) for preset in bases}
        for preset, result in base.items():
            style = evaluate(result.model, test_x, test_labels).accuracy
            results[f"{preset} (no drawings)", 0] = (style, float("nan"), result.metrics["test_accuracy"], 0.0)
            rows.append([f"{preset} (no drawings)", 0, f"{style:.2%}", "-", f"{result.metrics['test_accuracy']:.2%}",
                         "-"])
        saved = 0
        for n in counts:
            drawings.save_many([drawings.make_row(canvas_to_mnist(c), int(y), canvas=c,
                                                  session=f"visitor-{i % args.sessions}")
                                for i, (c, y) in enumerate(zip(canvases[saved:n], labels[saved:n]), start=saved)],
                               root)
            saved = n
            held = drawings.collection("held_out", root)
            for preset in bases:
                key = base[preset].meta["key"]
                for epochs, factor in variants:
                    config = dataclasses.replace(fine_tuning(PRESETS[preset], key, epochs, factor),
                                                 drawings_weight=args.weight)
                    name = f"{preset} fine-tuned {epochs}x{factor:g}"
                    if args.augment:
                        placement, pen = args.augment
                        config = dataclasses.replace(config, augment=placement, stroke_augment=pen)
                        name += f" aug {placement:g},{pen:g}"
                    score(name, n, config, held)
                if preset in scratch:
                    score(f"{preset} from scratch", n, dataclasses.replace(PRESETS[preset],
                                                                          drawings_weight=args.weight), held)
        for preset in bases if args.ceiling else ():
            started = time.perf_counter()
            style = ceiling(preset, args.ceiling, args.warp, test_x, test_labels)
            rows.append([f"{preset} on the style alone ({CEILING_EPOCHS} epochs)", args.ceiling, f"{style:.2%}", "-",
                         "-", f"{time.perf_counter() - started:.0f} s"])
            print(f"{preset} trained on {args.ceiling} drawings of the style alone: style {style:.4f}", flush=True)
    print()
    print(table(["training", "drawings", f"style ({len(test_x)} new)", "held out", "MNIST test", "wall"], rows))
    footer()
    default = f"{bases[-1]} fine-tuned {FINE_TUNE_EPOCHS}x{FINE_TUNE_LR_FACTOR:g}"
    if (default, max(counts)) in results:
        style, _, mnist, _ = results[default, max(counts)]
        verdict(style >= 0.98 and mnist >= 0.99,
                f"{default}, {max(counts)} drawings: style {style:.2%}, MNIST {mnist:.2%}")


if __name__ == "__main__":
    main()
