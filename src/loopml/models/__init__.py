"""Models: a hash-verified package format, flavors, signatures, and loading by URI.

Example::

    import loopml

    with loopml.start_run(experiment="churn"):
        clf.fit(X_train, y_train)
        info = loopml.log_model(clf, input_example=X_train.head())
    model = loopml.load_model(info.uri)          # runs:/<run_id>/model
    model.predict(X_test)                        # the signature is enforced
    loopml.save_model(clf, "out/churn")          # a package folder, outside any run

A package is a folder: the model in its library's own format and
``loopml-model.json`` (flavor, signature, input example, requirements, the
BLAKE3 hash of every file); see :mod:`loopml.models._package`. Flavors
(scikit-learn, XGBoost, LightGBM, ONNX, python_function, pickle) are in
:mod:`loopml.models._flavors`; signatures in :mod:`loopml.models._signature`.
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
