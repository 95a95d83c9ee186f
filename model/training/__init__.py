"""Making a model: the validated ``TrainConfig`` and presets (``config``),
the networks (``architectures``), the one fit loop (``fit``), progress
(``callbacks``), devices (``distribute``), the expected time (``estimate``),
hyperparameter search (``tune``) and ensembles (``ensemble``).

Pure ML: nothing here keeps files or reads the lab's database; the lab
(``model.lab``) keeps what training makes.

    from model.training.config import TrainConfig
    from model.training.fit import train_new
    model, meta = train_new(TrainConfig(epochs=1))
"""
