"""The HTTP server: every deployment of a project, behind one ASGI app.

``loopml serve`` (or :func:`serve`) runs :func:`create_app` on uvicorn. The app
answers two protocols for each deployment:

- JSON: ``POST /v1/deployments/{name}/predict`` with ``{"records": [...]}`` or
  ``{"columns": [...], "data": [[...]]}``; ``GET /v1/deployments[/{name}]``;
  ``POST /v1/deployments/{name}/feedback``.
- The Open Inference Protocol v2: ``/v2/health/live``, ``/v2/health/ready``,
  ``/v2/models/{name}[/versions/{v}]``, ``.../ready``, ``POST .../infer``.

Every request is checked against the served model's signature before the model
sees it (a bad one is a 4xx naming the field, never a 5xx), logged to the
prediction log (:mod:`loopml.predictions`) off the response path, and counted
in ``/metrics``. A ``loopml deploy`` reaches a running server within
``[serve] reload_seconds`` (polled from the metadata store), without a restart.

A deployment in the middle of a rollout is served by its primary and its candidate,
both loaded: requests are routed by the rollout's weight (an A/B test's sticky key by
a stable hash), a shadow's candidate answers a copy of each request off the response
path, a blue-green candidate is smoke-tested on recorded requests, and every worker
runs the rollout controller about once a second (one analysis per rollout, by a
lease in the metadata store). The variant that answered (``default``, ``primary``,
``candidate``; ``shadow`` in the log) is in the ``x-loopml-variant`` header.

Example::

    app = loopml.serving.create_app()          # the current project's deployments
    # uvicorn.run(app, port=8080), or:
    loopml.serving.serve(port=8080)
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
