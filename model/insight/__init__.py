"""Seeing inside a model: attributions, activations, weights and embeddings
(``explain``), pictures of them as small uint8 images (``pictures``, no
Matplotlib: fast enough for every stroke), and Matplotlib figures for the
pages and reports (``figures``).

    from model.insight.explain import integrated_gradients
    from model.insight.pictures import heat_map
    picture = heat_map(image, integrated_gradients(model, image))
"""
