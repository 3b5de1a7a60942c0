"""A property-based fuzz of ``loopml serve``'s OpenAPI schema (schemathesis): bodies,
paths and headers made from the schema, valid and invalid, never get a 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from tests.serving.conftest import make_churn

from loopml.serving import create_app

TOKEN = "fuzz-token"
EXAMPLES = 40  # per operation and mode: the file runs in well under a minute


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_made_from_the_schema_is_a_server_error(
    project: Path, mode: GenerationMode
) -> None:
    from fastapi.testclient import TestClient

    make_churn()
    app = create_app(token=TOKEN, reload_seconds=60, max_request_bytes=64 * 1024)

    async def requests_only(scope: Any, receive: Any, send: Any) -> None:
        """The app without its lifespan, which the TestClient below runs."""
        if scope["type"] == "lifespan":
            raise RuntimeError("the lifespan runs in the test")  # refused: not supported
        await app(scope, receive, send)

    with TestClient(app):  # the lifespan: loads the deployment, writes the log at the end
        schema = schemathesis.openapi.from_asgi("/openapi.json", requests_only)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= {
            "/v1/deployments/{name}/predict",
            "/v1/deployments/{name}/feedback",
            "/v2/models/{name}/infer",
            "/v2/models/{name}/versions/{version}/infer",
        }
        answered: dict[int, int] = {}
        fuzzed: set[str] = set()

        def fuzz(operation: Any) -> None:
            # every {name} is the one deployment and {version} its version, so requests reach
            # its signature and model
            fixed = {"name": "churn", "version": "1"}
            names = {p.name for p in operation.path_parameters}
            strategy = operation.as_strategy(
                generation_mode=mode, path_parameters={k: v for k, v in fixed.items() if k in names}
            )

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def check(case: Any) -> None:
                auth = {"Authorization": f"Bearer {TOKEN}"}
                response = case.call(headers=auth if operation.path.endswith("/feedback") else None)
                case.validate_response(response, checks=[not_a_server_error])
                assert response.status_code < 500, response.text
                if operation.path != "/metrics":
                    assert response.headers.get("x-request-id")
                answered[response.status_code] = answered.get(response.status_code, 0) + 1
                fuzzed.add(operation.path)

            try:
                check()
            except Unsatisfiable:
                # nothing to make invalid: no body, and every path parameter is fixed
                assert mode is GenerationMode.NEGATIVE and not operation.body

        for operation in operations:
            fuzz(operation)
    bodies = {op.path for op in operations if op.body}
    assert fuzzed >= bodies and len(bodies) == 4  # predict, feedback, infer (twice)
    if mode is GenerationMode.POSITIVE:
        assert answered.get(200, 0) > 0
