"""Digits in, before any model: MNIST itself (``mnist``), a drawing turned
into an MNIST-style 28x28 image (``preprocess``), images shaped for a
classifier's input and the shapes it may take (``inputs``), the distortions
training adds (``augment``), and digits the lab makes to check reading with:
pen strokes (``strokes``) and handwriting-style fonts (``fonts``).

    from model.data.mnist import load_mnist
    from model.data.preprocess import canvas_to_mnist
    (x_train, y_train), (x_test, y_test) = load_mnist()
"""
