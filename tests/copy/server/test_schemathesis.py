"""Property-based API fuzzing from the OpenAPI spec: no input may cause a server error."""

from __future__ import annotations

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from mtponte.copy.server import admin
from mtponte.copy.server.app import create_app
from mtponte.copy.server.settings import ServerSettings


def test_no_server_errors_on_any_operation(tmp_path):
    app = create_app(ServerSettings(database_url=f"sqlite:///{tmp_path / 'fuzz.db'}"))
    with TestClient(app):  # runs the lifespan: database, migrations, notifier
        with app.state.sessions() as s:
            m = admin.add_account(s, "master", "1001")
            f = admin.add_account(s, "follower", "2001")
            admin.subscribe(s, f, m)
            token = admin.issue_token(s, "admin", None)
            path_tokens = {  # valid tokens of the right scope for the Sentra routes
                "master-signal": admin.issue_token(s, "publish", m),
                "slave-signals": admin.issue_token(s, "follow", f),
                "slave-heartbeat": admin.issue_token(s, "follow", f),
                "settings": admin.issue_token(s, "follow", f),
            }
            s.commit()
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [r.ok() for r in schema.get_all_operations()]
        assert len(operations) >= 8
        statuses: dict[str, set[int]] = {}

        def check(op):  # one hypothesis run per operation
            @given(case=op.as_strategy())
            @settings(
                max_examples=40,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def run(case):
                # As admin, so generated inputs reach validation and the handlers.
                case.headers = {**dict(case.headers or {}), "Authorization": f"Bearer {token}"}
                if "token" in (case.path_parameters or {}):  # reach the hand-written parsers
                    case.path_parameters["token"] = path_tokens[op.path.rsplit("/", 1)[-1]]
                if op.path.endswith("/stream"):
                    return  # infinite by design; covered by tests/integration
                response = case.call()
                statuses.setdefault(op.label, set()).add(response.status_code)
                assert response.status_code < 500, (
                    op.label,
                    case.path_parameters,
                    case.body,
                    response.text[:300],
                )

            run()

        for op in operations:
            check(op)
        assert any(2 <= code // 100 <= 2 for codes in statuses.values() for code in codes)
        # The Sentra routes were reached past authentication (a valid token in the path).
        compat = [codes for label, codes in statuses.items() if "/api/mt/copy/" in label]
        assert len(compat) == 4 and all(codes - {401} for codes in compat), statuses
