"""model.serving.evaluate: accuracy, loss, confusion and mistakes, checked against
plain Keras and numpy, on the classic MLP fitted on 2,000 images (fast: no
full training)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model.serving.evaluate import Evaluation, evaluate

N = 1000


@pytest.fixture(scope="module")
def test_subset(mnist):
    x, y = mnist[1]
    return x[:N], y[:N]


@pytest.fixture(scope="module")
def classifier(small_mnist, tmp_path_factory):
    """(model, path): the classic MLP fitted on 2,000 images, and saved."""
    from model.training.config import TrainConfig
    from model.training.fit import fit

    model, _ = fit(TrainConfig(), small_mnist[0])
    path = tmp_path_factory.mktemp("evaluate") / "model.keras"
    model.save(path)
    return model, path


@pytest.fixture(scope="module")
def evaluation(classifier, test_subset):
    return evaluate(classifier[0], *test_subset)


def test_matches_keras_evaluate(classifier, test_subset, evaluation):
    x, y = test_subset
    model = keras.models.load_model(classifier[1], compile=False)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(x.reshape(N, 784).astype(np.float32) / 255, keras.utils.to_categorical(y, 10),
                                    batch_size=N, verbose=0)
    assert round(accuracy * N) == evaluation.correct.sum()  # the same images right, exactly
    assert evaluation.accuracy == pytest.approx(accuracy, abs=1e-6)
    assert evaluation.loss == pytest.approx(loss, abs=1e-3)
    assert evaluation.probs.shape == (N, 10)
    assert len(evaluation.labels) == N


def test_confusion_matrix(evaluation, test_subset):
    _, y = test_subset
    confusion = evaluation.confusion
    assert confusion.shape == (10, 10)
    assert confusion.sum() == N
    assert np.trace(confusion) / N == pytest.approx(evaluation.accuracy)
    np.testing.assert_array_equal(confusion.sum(axis=1), np.bincount(y, minlength=10))  # rows: true digits
    np.testing.assert_array_equal(confusion.sum(axis=0), np.bincount(evaluation.predictions, minlength=10))


def test_per_class_accuracy(evaluation, test_subset):
    _, y = test_subset
    predicted = evaluation.probs.argmax(axis=1)
    expected = np.array([(predicted[y == d] == d).mean() for d in range(10)])
    np.testing.assert_allclose(evaluation.per_class_accuracy, expected)


def test_mistakes(evaluation, test_subset):
    _, y = test_subset
    mistakes = evaluation.mistakes()
    predicted = evaluation.probs.argmax(axis=1)
    assert len(mistakes) == (predicted != y).sum() > 0
    assert set(mistakes.tolist()) == set(np.flatnonzero(predicted != y).tolist())
    assert (predicted[mistakes] != y[mistakes]).all()
    confidence = evaluation.probs[mistakes].max(axis=1)
    assert (np.diff(confidence) <= 0).all()  # most confident first


def test_batching_does_not_change_the_result(classifier, test_subset, evaluation):
    x, y = test_subset
    again = evaluate(classifier[0], x, y, batch_size=300)  # 300 does not divide 1000
    np.testing.assert_allclose(again.probs, evaluation.probs, atol=1e-6)


def test_hand_made_evaluation():
    probs = np.array([
        [0.9, 0.1] + [0] * 8,  # true 0, right
        [0.2, 0.8] + [0] * 8,  # true 0, wrong (confidence 0.8)
        [0.4, 0.6] + [0] * 8,  # true 0, wrong (confidence 0.6)
        [0.05, 0.95] + [0] * 8,  # true 1, right
    ], np.float32)
    labels = np.array([0, 0, 0, 1])
    e = Evaluation(probs=probs, labels=labels)
    assert e.accuracy == 0.5
    assert e.mistakes().tolist() == [1, 2]
    assert e.confusion[0, 0] == 1 and e.confusion[0, 1] == 2 and e.confusion[1, 1] == 1
    np.testing.assert_allclose(e.per_class_accuracy[:2], [1 / 3, 1.0])
    assert (e.per_class_accuracy[2:] == 0).all()  # digits that never occur: 0, not NaN
    expected_loss = -np.mean(np.log([0.9, 0.2, 0.4, 0.95]))
    assert e.loss == pytest.approx(expected_loss, rel=1e-6)
    sure_and_wrong = Evaluation(probs=np.eye(10, dtype=np.float32)[[1]], labels=np.array([0]))
    assert sure_and_wrong.loss == pytest.approx(-np.log(1e-7), rel=1e-6)  # clipped as Keras clips
