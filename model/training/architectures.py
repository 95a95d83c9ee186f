"""Keras models built from a ``TrainConfig``: the classic MLP and a small CNN.

The MLP takes flattened images (784,), as the seed's ``mnist_model.h5`` does;
the CNN takes (28, 28, 1). Augmentation (``model.data.augment``) is not part of the
model: it distorts the training batches in the input pipeline
(``model.training.fit.make_dataset``) while the model trains. Batch normalization
trains with TensorFlow's fused kernel (``FusedBatchNormalization``); once
fitted, the layers become Keras' own (``with_keras_layers``, called by
``model.training.fit.fit`` and ``model.training.tune``), so every model the API returns saves
as plain Keras and needs nothing from here.
"""

from __future__ import annotations

import keras
from keras import layers

from model.training.config import TrainConfig


def input_shape(config: TrainConfig) -> tuple[int, ...]:
    return (784,) if config.architecture == "mlp" else (28, 28, 1)


MIXED = {"float32": "float32", "bfloat16": "mixed_bfloat16"}  # config.computed_in() -> Keras dtype policy


def build_model(config: TrainConfig) -> keras.Model:
    """The uncompiled network that ``config`` describes. With
    ``config.precision`` "bfloat16", every layer but the output computes in
    bfloat16 (its variables stay float32); ``with_keras_layers`` makes the
    trained model float32."""
    regularizer = keras.regularizers.L2(config.l2) if config.l2 else None
    dtype = MIXED[config.computed_in()]
    inputs = keras.Input(shape=input_shape(config), name="image")
    x = inputs
    if config.architecture == "cnn":
        for filters in config.conv_filters:
            for _ in range(config.convs_per_block):
                x = layers.Conv2D(filters, config.kernel_size, padding=config.padding, dtype=dtype,
                                  kernel_regularizer=regularizer, use_bias=not config.batch_norm)(x)
                x = _normalize_and_activate(x, config, dtype)
            x = layers.MaxPooling2D(dtype=dtype)(x)
        x = layers.Flatten(dtype=dtype)(x)
    for units in config.hidden_units:
        if config.dropout:
            x = layers.Dropout(config.dropout, dtype=dtype)(x)
        x = layers.Dense(units, kernel_regularizer=regularizer, use_bias=not config.batch_norm, dtype=dtype)(x)
        x = _normalize_and_activate(x, config, dtype)
    if config.dropout:
        x = layers.Dropout(config.dropout, dtype=dtype)(x)
    # float32 softmax: bfloat16's 8 bits of mantissa would round probabilities near 1
    outputs = layers.Dense(10, activation="softmax", name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"mnist_{config.architecture}")


def _normalize_and_activate(x, config: TrainConfig, dtype: str):
    if config.batch_norm:
        x = FusedBatchNormalization(dtype=dtype)(x)
    return layers.Activation(config.activation, dtype=dtype)(x)


class FusedBatchNormalization(layers.BatchNormalization):
    """Keras' ``BatchNormalization``, computed in training by TensorFlow's fused
    kernel on image batches. Keras 3 normalizes with a dozen element-wise ops
    and their gradients; on CPU that was 40% of the strong CNN's training time,
    and the fused kernel makes the whole step 1.5x faster (measured). Same
    weights, same outputs, same moving averages; inference is Keras' own code."""

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self.center and self.scale and mask is None
                and len(inputs.shape) == 4 and self.axis in (-1, 3)
                and inputs.dtype in ("float32", "bfloat16")):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        # bfloat16 images (mixed precision) with float32 scale, offset and statistics: the kernel takes both
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True)[:3]
        # The kernel returns the unbiased variance; Keras averages the biased one.
        n = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), variance.dtype)
        variance = variance * (n - 1) / n
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1 - self.momentum))
        return outputs


def with_keras_layers(model: keras.Model) -> keras.Model:
    """``model`` with every ``FusedBatchNormalization`` turned into Keras'
    ``BatchNormalization``, in place: the fused layer only overrides how a
    training step computes (no weights, no config of its own), so the same
    layer objects, weights, optimizer and compiled state carry on, and the
    model saves and exports as plain Keras (or TFLite). Cheap, and a no-op
    for a model without fused layers. A model trained in mixed precision
    comes back as a float32 copy with the same weights (``as_float32``)."""
    for layer in model.layers:
        if type(layer) is FusedBatchNormalization:
            object.__setattr__(layer, "__class__", layers.BatchNormalization)
    return as_float32(model)


def as_float32(model: keras.Model) -> keras.Model:
    """``model`` itself when every layer computes in float32; else a float32
    clone holding its weights (mixed precision keeps them float32), so what is
    saved, exported and served computes as any other model does."""
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model

    def float32_layer(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    clone = keras.models.clone_model(model, clone_function=float32_layer)
    clone.set_weights(model.get_weights())
    return clone


def build_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    lr = learning_rate_schedule(config, steps_per_epoch)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=config.momentum, nesterov=config.nesterov)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=config.weight_decay)
    return keras.optimizers.RMSprop(lr)


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    """A constant rate, a cosine decay, or one cycle (linear warm-up over the
    first 30% of steps, then cosine annealing), all built-in Keras schedules so
    the saved model needs no custom objects."""
    total = max(1, steps_per_epoch * config.epochs)
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.lr, decay_steps=total)
    warmup = max(1, int(0.3 * total))
    return keras.optimizers.schedules.CosineDecay(
        config.lr / 25, decay_steps=total - warmup, alpha=1 / 250,
        warmup_target=config.lr, warmup_steps=warmup)


STEPS_PER_EXECUTION = 20


def compile_model(model: keras.Model, config: TrainConfig, steps_per_epoch: int) -> None:
    """Cross-entropy and accuracy, as the seed. Running several steps per call
    and compiling with XLA halve the MLP's training time on CPU without
    changing what is computed. Not for CNNs: XLA's CPU convolutions are 4x
    slower than oneDNN's (measured); nor with dropout (10x slower under XLA on
    CPU)."""
    from model.training.distribute import compile_overrides

    options = {"steps_per_execution": STEPS_PER_EXECUTION,
               "jit_compile": config.architecture == "mlp" and not config.dropout}
    options.update(compile_overrides(model))  # under tf.distribute: Keras 3 fails with either speed-up
    loss = (keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
            if config.label_smoothing else "categorical_crossentropy")
    model.compile(optimizer=build_optimizer(config, steps_per_epoch), loss=loss, metrics=["accuracy"], **options)
