"""Seeing inside a digit classifier, one idea a module: which pixels made it
say what it said (``attribution``: integrated gradients), where a CNN found
the evidence (``cam``: class activation maps, aligned with the pixels), what
each layer computes and what the first one looks for (``layers``), and where
each image sits in the network's own space (``embeddings``: PCA, t-SNE).
Pictures of them: small uint8 images (``pictures``, no Matplotlib: fast
enough for every stroke) and Matplotlib figures for the pages and reports
(``figures``).

    python -m model explain mnist_model.h5 --image 0       # writes explain-0.png

    from model.insight.attribution import integrated_gradients
    from model.insight.pictures import heat_map
    picture = heat_map(image, integrated_gradients(model, image))
"""
