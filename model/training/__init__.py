"""Making a model: the validated ``TrainConfig`` and presets (``config``),
the networks (``architectures``), the one fit loop (``fit``), progress
(``callbacks``), devices (``distribute``), the expected time (``estimate``;
a few real steps timed: ``probe``), hyperparameter search (``tune``) and
ensembles (``ensemble``). Pure ML: nothing here reads the lab's database;
the lab (``model.lab``) keeps what training makes.

    python -m model train --preset fast-cnn       # train, evaluate and keep a model
    python -m model tune --trials 5 --epochs 2    # KerasTuner search
    python -m model ensemble KEY KEY              # kept runs averaged into one model

    from model.training.config import TrainConfig
    from model.training.fit import train_new
    model, meta = train_new(TrainConfig(epochs=1))
"""
