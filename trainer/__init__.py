"""A compact, seedable GPT trainer.

Public API (what research_harness uses; nothing else is promised):

- ``trainer.config``: ``ModelConfig``, ``TrainConfig``, ``PRESETS``, ``resolve_preset``.
- ``trainer.run``: ``train_run`` trains one seed and returns a run record (a dict);
  ``TrainingSession`` trains several seeds of one configuration in one process,
  building (and on CUDA compiling) the model once.
- ``trainer.ideas``: the idea registry (``discover_ideas``) and the ``Idea`` type.
"""

__version__ = "0.1.0"
