"""Schemathesis against the app's own OpenAPI document: no input makes a server error."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from smartpark.api.app import create_app
from tests.conftest import REGISTRY
from tests.services import fresh_database
from tests.test_api import populate

EXAMPLES = 50  # per operation; every operation, valid and invalid inputs alike


def test_no_input_makes_a_server_error() -> None:
    with fresh_database(True, REGISTRY) as db:
        admin = {"Authorization": f"Bearer {populate(db)['admin']}"}
        app = create_app(db.engine)
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, headers=admin)
        # The live alert stream never ends by itself; tests/test_api_dashboard.py covers it.
        schema = schema.exclude(path_regex=r"/alerts/stream$")
        seen: dict[str, int] = {}
        failures: list[str] = []
        for result in schema.get_all_operations():
            operation = result.ok()

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def call(case: Any) -> None:
                label = case.operation.label
                response = case.call(headers=admin)
                seen[label] = seen.get(label, 0) + 1
                if response.status_code >= 500:
                    failures.append(f"{label} {case.formatted_path}: {response.text[:300]}")
                elif response.status_code >= 400:
                    kind = response.headers["content-type"]
                    assert kind == ["application/problem+json"], (label, response.status_code)

            call()
        assert failures == []
        # Every documented operation but the stream was exercised.
        assert len(seen) == 34, sorted(seen)
