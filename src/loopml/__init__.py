"""loopml: version data, track runs and link everything to what made it.

The public SDK is what this module exports (listed once, in ``__init__.pyi``);
everything is imported on first use, so ``import loopml`` stays fast (nothing
heavy loads until you call it)::

    import loopml

    ds = loopml.add_dataset("data/iris.csv", name="iris")
    with loopml.start_run(experiment="iris", params={"max_depth": 4}) as run:
        run.use_dataset(ds.uri)
        loopml.log_metric("f1", 0.93)
    loopml.search_runs("metrics.f1 > 0.9", order_by=["metrics.f1 DESC"])

Module-level functions work in the current context (the project found from
the working directory); :class:`Client` holds one explicitly, with every
function here as a method.
"""

from loopml._lazy import attach_stub

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
