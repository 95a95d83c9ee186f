"""Using a model: what counts as a digit classifier (``contract``), the static
checks of a file before Keras reads it (``untrusted``), loading and reading
digits (``predict``), scores on the test set (``evaluate``), export to
``.keras``, ``.h5`` and TFLite (``export``; for the visitor's browser: ``web``),
and a model's Keras graph (``graph``: traced functions kept on the model,
its layers copied onto a new input).

    python -m model evaluate mnist_model.h5       # test loss, accuracy, per digit

    from model.serving.predict import load_classifier, predict_proba
    model = load_classifier("mnist_model.h5")
    probs = predict_proba(model, image28x28)
"""
