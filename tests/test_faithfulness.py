"""The maps the pages show point at the evidence the model uses, on the
convolutional presets (the shipped starter, fast-cnn; strong-cnn trained
briefly here) and their ensemble: Grad-CAM as the pages draw it (on 30 test
digits) and integrated gradients (on 10).

One check, ``bench.faithfulness.check``, per map method: no empty map, mass
on the ink at least 1.3x that region's share, blacking out the top 10% of
pixels lowers the predicted digit's probability more than 10% random pixels,
and the two sanity checks of Adebayo et al. (2018): the same network with
fresh random weights ranks the ink's pixels differently (model
randomisation), and so does the map for the runner-up digit (class), both a
mean Spearman rank correlation below 0.5 (measured: at most 0.25, see the
figures printed with -s).

Negative controls, held to the same check, must fail it: the all-zero map
(empty), the image used as its own map (it passes ink and deletion, but is
the same for any network and any digit), and a random network's map (the
same whatever the model). bench/faithfulness.py measures the first three on
fully trained presets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.faithfulness import RANK_GOAL, check, randomised
from model.data.preprocess import scale_images
from model.insight.attribution import integrated_gradients
from model.insight.cam import grad_cam
from model.training.config import PRESETS
from model.training.ensemble import combine
from model.training.fit import fit

N_TRAIN, N_MAPS, N_IG = 12_000, 30, 10
NAMES = ["fast-cnn", "strong-cnn", "ensemble"]
GRAD_CAM, IG = "Grad-CAM", "integrated gradients"


@pytest.fixture(scope="module")
def presets(mnist, starter_run):
    (x, y), _ = mnist
    config = dataclasses.replace(PRESETS["strong-cnn"], epochs=1, precision="float32", validation_split=0.0)
    models = {"fast-cnn": starter_run.model,  # the starter the app ships and serves
              "strong-cnn": fit(config, (x[:N_TRAIN], y[:N_TRAIN]))[0]}
    models["ensemble"] = combine([models["fast-cnn"], models["strong-cnn"]])
    return models


@pytest.fixture(scope="module")
def verdicts(presets, mnist):
    """name -> method -> Verdict, each model checked once (the lab's maps and
    the broken ones together: one random baseline)."""
    images = scale_images(mnist[1][0][:N_MAPS])
    done = {}

    def of(name: str) -> dict:
        if name not in done:
            model = presets[name]
            random_model = randomised(model, seed=0)  # the check's randomised copy
            other = randomised(model, seed=1)  # another, for the control "a random network's map"
            done[name] = check(model, images, {
                GRAD_CAM: grad_cam,  # as the pages show it (app_pages/explain_view.py)
                "all zero": lambda m, im, t: np.zeros((28, 28)),
                "the image itself": lambda m, im, t: im,
                "a random network's Grad-CAM": lambda m, im, t: grad_cam(other, im, t),
            }, random_model=random_model)
            done[name].update(check(model, images[:N_IG], {IG: integrated_gradients}, random_model=random_model))
            print(f"\n{name}:" + "".join(f"\n  {method}: {v.text()}" for method, v in done[name].items()))
        return done[name]
    return of


@pytest.mark.parametrize("name", NAMES)
def test_the_maps_the_pages_show_pass_every_check(verdicts, name):
    for method in (GRAD_CAM, IG):
        v = verdicts(name)[method]
        assert v.failed == [], f"{name}, {method}: {v.text()}"
        assert v.empty == 0
        assert v.r_random.mean() < RANK_GOAL and v.r_class.mean() < RANK_GOAL


@pytest.mark.parametrize("name", NAMES)
def test_a_map_that_ignores_the_model_or_the_digit_fails_the_check(verdicts, name):
    got = {method: set(v.failed) for method, v in verdicts(name).items()}
    # empty everywhere: no mass anywhere, and the same (nothing) for any model and digit
    assert {"empty", "ink", "model randomisation", "class"} <= got["all zero"]
    # the image: all its mass is on the ink, but it is the same for any model and digit
    assert {"model randomisation", "class"} <= got["the image itself"]
    # another network's map: the same whatever the model
    assert "model randomisation" in got["a random network's Grad-CAM"]
