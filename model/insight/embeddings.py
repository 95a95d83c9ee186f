"""Where each image sits in the network's own space: the penultimate layer's
outputs (``features``) mapped to 2-D with scikit-learn's PCA or t-SNE
(``fit_embedding``, ``embedding``), a new image (a drawing) put on an
existing map (``place``), and how well a map separates the digits
(``knn_accuracy``).

    from model.insight.embeddings import embedding, knn_accuracy
    coords = embedding(model, x_test[:1000], "tsne")   # (1000, 2)
    knn_accuracy(coords, y_test[:1000])                # share of points among their own digit
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from model.data.inputs import model_inputs, one_image
from model.insight.layers import UnsupportedModelError
from model.serving.graph import kept

METHODS = ("pca", "tsne")
TSNE_NEIGHBOURS = 5  # feature-space neighbours averaged to place a new image on a t-SNE map


def _penultimate(model):
    """Features (N, d): the input of the last dense layer (the classifier's
    own view of an image), traced once."""
    def make():
        import keras
        import tensorflow as tf

        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        if not dense:
            raise UnsupportedModelError("the model has no dense layer, so no penultimate layer to map")
        inner = keras.Model(model.inputs[0], dense[-1].input)
        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        return tf.function(lambda x: inner(x, training=False), input_signature=[spec])
    return kept(model, "_mnist_lab_penultimate", make)


def features(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The penultimate layer's outputs (N, d) for uint8 or float images (N, 28, 28)."""
    x = model_inputs(np.asarray(images), model.input_shape[1:])
    fn = _penultimate(model)
    out = [np.asarray(fn(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    return np.concatenate(out).reshape(len(x), -1).astype(np.float32)


@dataclass(frozen=True)
class Embedding:
    """A 2-D map of images in the penultimate layer's space, and what it
    takes to place a new image on it."""
    coords: np.ndarray  # (N, 2)
    features: np.ndarray  # (N, d)
    method: str
    projection: Any = None  # the fitted PCA (method "pca")


def fit_embedding(model, images: np.ndarray, method: str = "pca", seed: int = 0) -> Embedding:
    """Map ``images`` to 2-D by the penultimate layer's outputs: scikit-learn's
    PCA, or t-SNE (on the first 50 principal components, as usual: the same
    neighbours, a fraction of the time). Same seed, same map (t-SNE starts
    from the PCA layout, so in practice it hardly depends on the seed)."""
    from sklearn.decomposition import PCA

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    feats = features(model, images)
    if method == "pca":
        pca = PCA(n_components=2, svd_solver="full").fit(feats)
        return Embedding(pca.transform(feats), feats, method, pca)
    from sklearn.manifold import TSNE

    reduced = PCA(n_components=min(50, *feats.shape), svd_solver="full").fit_transform(feats)
    coords = TSNE(n_components=2, init="pca", random_state=seed,
                  perplexity=min(30.0, max(1.0, (len(feats) - 1) / 3))).fit_transform(reduced)
    return Embedding(coords, feats, method)


def embedding(model, images: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) coordinates of ``images`` in the penultimate layer's space (see ``fit_embedding``)."""
    return fit_embedding(model, images, method, seed).coords


def place(model, emb: Embedding, image: np.ndarray, neighbours: int = TSNE_NEIGHBOURS) -> np.ndarray:
    """Where a new image (a drawing, 28x28 floats) falls on an existing map,
    (2,): PCA projects it; t-SNE has no projection, so it goes to the mean
    position of its ``neighbours`` nearest images in feature space."""
    f = features(model, one_image(image)[None])[0]
    if emb.projection is not None:
        return emb.projection.transform(f[None])[0]
    nearest = np.argsort(((emb.features - f) ** 2).sum(axis=1), kind="stable")[:neighbours]
    return emb.coords[nearest].mean(axis=0)


def knn_accuracy(coords: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """How well a map separates the digits: the share of points whose ``k``
    nearest others on the map mostly carry their own label (leave one out)."""
    from sklearn.neighbors import KNeighborsClassifier

    labels = np.asarray(labels)
    nearest = KNeighborsClassifier(n_neighbors=k + 1).fit(coords, labels).kneighbors(coords, return_distance=False)
    votes = labels[nearest[:, 1:]]
    predicted = np.array([np.bincount(v, minlength=10).argmax() for v in votes])
    return float((predicted == labels).mean())
