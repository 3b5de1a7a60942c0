"""Automation: what chains the packages of the rows below it.

Today: run a pipeline (or tune it) and register the model its step returned,
so one call goes from code and data to ``models:/<name>/<version>``; the
next steps (gates in front of a promotion, retraining on a trigger) plug in
here. Pipelines and the registry never import each other; this package uses
both. Batch scoring (:func:`predict_batch`) chains the same way: a model
(``models``), its input (``data``), a run with lineage (``tracking``) and,
with ``executor="ray"``, the Ray connection pipelines use.

Example::

    import loopml

    done = loopml.run_and_register("pipeline:train", "digits", promote="staging")
    print(done.message)      # registered models:/digits/1 from step train ...
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
