"""What "seeing inside the model" costs: the server's time per stroke on the
Draw page with the attribution on, and the time to map the test set.

    python -m bench.explain                                    # trains both presets (about 40 s on 2 cores)
    python -m bench.explain --model classic.h5 --cnn-model fast-cnn.h5 --n 300

Goal: a stroke (canvas -> 28x28 -> probabilities -> integrated gradients ->
heat-map PNG data URL, the Draw page's path) at p50 <= 25 ms for the
classic MLP and the fast CNN, so drawing stays fluid; Grad-CAM is timed too.
Maps: PCA and t-SNE of the fast CNN's penultimate layer for 2,000 and 5,000
test images (t-SNE must finish within two minutes, once per model: the app
caches it), with the 5-nearest-neighbour accuracy of the true digits on each
map (how well it separates them).

``--n`` synthetic pen drawings (``model.data.strokes``, as the canvas returns
them) per model; the models are the ``classic`` and ``fast-cnn`` presets
trained with ``model.training.fit.fit`` on full MNIST (or given files).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench import common

STROKE_GOAL_MS = 25.0
TSNE_GOAL_S = 120.0
MAP_SIZES = (2000, 5000)


def model_for(given: str | None, preset: str):
    from model.data.mnist import load_mnist
    from model.serving.predict import load_classifier
    from model.training.config import PRESETS
    from model.training.fit import fit

    if given:
        return load_classifier(Path(given))
    t = time.perf_counter()
    model, history = fit(PRESETS[preset], load_mnist()[0])
    print(f"trained {preset} in {time.perf_counter() - t:.1f} s (training accuracy {history['accuracy'][-1]:.4f})",
          flush=True)
    return model


def stroke_times(name: str, model, drawings: list[np.ndarray]) -> dict[str, float]:
    """The Draw page's work per stroke, with the heat map of each method."""
    from model.data.preprocess import canvas_to_mnist
    from model.insight import pictures
    from model.insight.attribution import integrated_gradients
    from model.insight.cam import conv_layers, grad_cam
    from model.serving.predict import predict_proba

    methods = {"integrated gradients": lambda im, t: pictures.heat_map(im, integrated_gradients(model, im, t),
                                                                      scale=1)}
    if conv_layers(model):
        methods["Grad-CAM"] = lambda im, t: pictures.heat_map(im, grad_cam(model, im, t), scale=1, signed=False)
    for drawing in drawings[:10]:  # warm-up: the first calls trace the graphs
        image = canvas_to_mnist(drawing)
        for method in methods.values():
            method(image, int(predict_proba(model, image).argmax()))
    print(f"\n{name} ({model.count_params():,} parameters):")
    result = {}
    for label, method in methods.items():
        total, attribution = [], []
        for drawing in drawings:
            t0 = time.perf_counter()
            image = canvas_to_mnist(drawing)
            probs = predict_proba(model, image)
            t1 = time.perf_counter()
            pictures.png_data_url(method(image, int(probs.argmax())))
            t2 = time.perf_counter()
            total.append(t2 - t0), attribution.append(t2 - t1)
        print("  " + common.latency_line(f"stroke with {label} (prediction + map + PNG)", total))
        print("  " + common.latency_line(f"  of which {label} and its PNG", attribution))
        result[label] = common.percentile(total, 50)
    return result


def map_times(model) -> list[list[object]]:
    from model.data.mnist import load_mnist
    from model.insight import embeddings

    images, labels = load_mnist()[1]
    rows = []
    for n in MAP_SIZES:
        for method in embeddings.METHODS:
            t = time.perf_counter()
            coords = embeddings.embedding(model, images[:n], method)
            seconds = time.perf_counter() - t
            rows.append([f"{n:,}", method, f"{seconds:.1f} s", f"{embeddings.knn_accuracy(coords, labels[:n]):.3f}",
                         common.load_short()])
            print(f"  map of {n:,} with {method}: {seconds:.1f} s", flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="an MLP .h5/.keras to use instead of training the classic preset")
    parser.add_argument("--cnn-model", help="a CNN .h5/.keras to use instead of training the fast-cnn preset")
    parser.add_argument("--n", type=int, default=300, help="drawings timed per model (default 300)")
    args = parser.parse_args(argv)
    common.header("explain: attribution per stroke, embedding maps",
                  f"stroke p50 <= {STROKE_GOAL_MS:g} ms with the attribution (MLP and CNN); "
                  f"t-SNE of {MAP_SIZES[-1]:,} images <= {TSNE_GOAL_S:g} s")
    from bench.predict_latency import drawings
    from model.logs import quiet_tensorflow

    quiet_tensorflow()
    models = {"MLP (classic)": model_for(args.model, "classic"),
              "CNN (fast-cnn)": model_for(args.cnn_model, "fast-cnn")}
    images = drawings(args.n)
    print(f"timing on: {common.load_text()}", flush=True)
    strokes = {name: stroke_times(name, model, images) for name, model in models.items()}
    print("\nmaps of the fast CNN's penultimate layer (512 features):", flush=True)
    rows = map_times(models["CNN (fast-cnn)"])
    print(common.table(["test images", "method", "time", "5-NN accuracy", "load after"], rows))
    print()
    common.footer()
    worst = max(p50 for result in strokes.values() for p50 in result.values())
    tsne = max(float(r[2].split()[0]) for r in rows if r[1] == "tsne")
    ok = worst * 1000 <= STROKE_GOAL_MS and tsne <= TSNE_GOAL_S
    common.verdict(ok, "; ".join(f"{name} {label} p50 {p50 * 1000:.1f} ms" for name, result in strokes.items()
                                 for label, p50 in result.items())
                   + f" (goal <= {STROKE_GOAL_MS:g}); slowest t-SNE {tsne:.0f} s (goal <= {TSNE_GOAL_S:g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
