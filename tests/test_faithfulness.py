"""The maps the pages show point at the evidence, on the convolutional presets
(the shipped starter, fast-cnn; strong-cnn trained briefly here) and their ensemble: no empty map, mass on the ink at
least 1.3x that region's share, and blacking out the top 10% of pixels lowers
the predicted digit's probability more than blacking out 10% random pixels
(bench/faithfulness.py measures the same on fully trained presets)."""

from __future__ import annotations

import dataclasses

import pytest

from bench.faithfulness import GOAL_FRACTION, FRACTIONS, measure
from model.data.preprocess import scale_images
from model.insight import explain
from model.training.config import PRESETS
from model.training.ensemble import combine
from model.training.fit import fit

N_TRAIN, N_MAPS = 12_000, 30


@pytest.fixture(scope="module")
def presets(mnist, starter_run):
    (x, y), _ = mnist
    config = dataclasses.replace(PRESETS["strong-cnn"], epochs=1, precision="float32", validation_split=0.0)
    models = {"fast-cnn": starter_run.model,  # the starter the app ships and serves
              "strong-cnn": fit(config, (x[:N_TRAIN], y[:N_TRAIN]))[0]}
    models["ensemble"] = combine([models["fast-cnn"], models["strong-cnn"]])
    return models


@pytest.mark.parametrize("name", ["fast-cnn", "strong-cnn", "ensemble"])
def test_the_class_map_points_at_the_evidence(presets, mnist, name):
    model = presets[name]
    images = scale_images(mnist[1][0][:N_MAPS])
    r = measure(model, images, {"map": lambda im, t: explain.grad_cam(model, im, t)}, draws=3)
    i = FRACTIONS.index(GOAL_FRACTION)
    top, random = r["map"]["drops"][:, i].mean(), r["random"]["drops"][:, i].mean()
    print(f"\n{name}: empty {r['map']['empty']}/{N_MAPS}, ink {r['map']['ink']:.2f}x, "
          f"top-10% drop {top:.3f} vs random {random:.3f}")
    assert r["map"]["empty"] == 0
    assert r["map"]["ink"] >= 1.3
    assert top > random
