"""Training on several devices (model.training.distribute): a MirroredStrategy over two
logical CPUs trains the MLP built and compiled by model.training.architectures; on a
machine without two GPUs, strategy() is TensorFlow's default strategy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Logical devices must be set before TensorFlow initializes: a fresh process.
MIRRORED_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import tensorflow as tf

cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import keras
from model.training.architectures import build_model, compile_model
from model.training.config import TrainConfig
from model.data.mnist import load_mnist
from model.training.distribute import compile_overrides, is_distributed, strategy, strategy_scope
from model.training.fit import make_dataset
from model.data.inputs import model_inputs

(x, y), (x_test, y_test) = load_mnist()
x, y, x_test, y_test = x[:2000], y[:2000], x_test[:500], y_test[:500]
config = TrainConfig(hidden_units=(64,), optimizer="adam", batch_size=64, epochs=1)
steps = -(-len(x) // config.batch_size)
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
keras.utils.set_random_seed(0)
with strategy_scope(mirrored) as s:
    model = build_model(config)
    compile_model(model, config, steps)
    as_compiled = {"steps_per_execution": model.steps_per_execution, "jit_compile": bool(model.jit_compile)}
    overrides = compile_overrides(model)
shape = model.input_shape[1:]
model.fit(make_dataset(model_inputs(x, shape), y, config.batch_size, config.seed), epochs=1, verbose=0)
probs = model.predict(model_inputs(x_test, shape), batch_size=250, verbose=0)
print(json.dumps({
    "scope_yields_strategy": s is mirrored,
    "replicas": mirrored.num_replicas_in_sync,
    "model_replicas": model.distribute_strategy.num_replicas_in_sync,
    "mirrored_weights": isinstance(model.trainable_variables[0].value, tf.distribute.DistributedValues),
    "as_compiled": as_compiled,
    "overrides": overrides,
    "held_out_accuracy": float((probs.argmax(axis=1) == y_test).mean()),
    "default_here": not is_distributed(strategy()),
}))
"""


@pytest.fixture(scope="module")
def mirrored_run():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, str(ROOT)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_mirrored_strategy_over_two_cpus_trains_the_mlp(mirrored_run):
    assert mirrored_run["scope_yields_strategy"]
    assert mirrored_run["replicas"] == 2 and mirrored_run["model_replicas"] == 2
    assert mirrored_run["mirrored_weights"]  # one copy of each weight per device
    assert mirrored_run["overrides"] == {"steps_per_execution": 1, "jit_compile": False}
    assert mirrored_run["held_out_accuracy"] > 0.6
    assert mirrored_run["default_here"]  # logical CPUs are not GPUs: strategy() stays the default


def test_compile_model_is_distribution_aware(mirrored_run):
    assert mirrored_run["as_compiled"] == mirrored_run["overrides"]


def test_strategy_is_the_default_one_without_two_gpus():
    import keras
    import tensorflow as tf

    from model.training.distribute import (
        compile_overrides,
        is_distributed,
        local_gpus,
        strategy,
        strategy_scope,
    )

    if len(local_gpus()) >= 2:
        pytest.skip("this machine has two or more GPUs: strategy() is a MirroredStrategy here")
    s = strategy()
    assert s is tf.distribute.get_strategy()
    assert not is_distributed(s) and s.num_replicas_in_sync == 1
    with strategy_scope() as inside:
        assert inside is s
        assert not tf.distribute.has_strategy()  # a no-op scope
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert compile_overrides(model) == {}
