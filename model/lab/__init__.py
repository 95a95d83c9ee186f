"""The lab service around the ML core: kept runs and the current model on
disk (``store``, ``runs``, ``registry`` for uploads, ``ensembles``,
``tuning``), the database (``db``), background jobs (``jobs``), visitors'
drawings (``drawings``), the sandbox uploads are checked in (``sandbox``)
and the public demo's limits (``limits``).

It may import the core (``model.data``, ``model.training``,
``model.serving``, ``model.insight``); the core never imports it (checked by
``lint-imports``, see ``.importlinter``).

    from model.lab.runs import train
    result = train(TrainConfig(epochs=1))     # kept in models/<key>/, made current
"""
