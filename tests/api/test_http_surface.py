"""The HTTP surface beyond the auth matrix: the OpenAPI document and Swagger UI need a
token (finding 12), no redirect is built from the Host header (13), every answer carries
nosniff and authenticated ones ``no-store`` (15), and ``POST /v1/queue`` cannot touch a
TSS worker's record (6)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.api.live import ADMIN, LiveAPI


@pytest.fixture(scope="module")
def tokens(node: LiveAPI) -> dict[str, str]:
    out = {}
    with node.client(ADMIN) as admin:
        for role in ("viewer", "operator"):
            made = admin.post("/api/v1/tokens", json={"name": f"hs-{role}", "role": role})
            out[role] = made.json()["token"]
    return out


# -- finding 12 ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/docs"])
def test_the_openapi_document_and_swagger_ui_need_a_viewer(
    node: LiveAPI, tokens: dict[str, str], path: str
) -> None:
    with node.client(None) as anonymous:
        refused = anonymous.get(path)
    assert refused.status_code == 401
    assert refused.json()["error"]["field"] == "Authorization"
    with node.client(tokens["viewer"]) as viewer:
        assert viewer.get(path).status_code == 200
    with httpx.Client(base_url=node.url) as browser:  # Swagger UI in a logged-in browser
        assert browser.post("/dashboard/login", json={"token": tokens["viewer"]}).is_success
        assert browser.get(path).status_code == 200


def test_swagger_ui_files_stay_public(node: LiveAPI) -> None:
    with node.client(None) as anonymous:
        assert anonymous.get("/api/v1/docs/static/swagger-ui.css").status_code == 200


# -- finding 13 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/jobs/", "/api/v1/runs/", "/tasks", "/api/v1/openapi.json/", "/metrics/"]
)
def test_no_redirect_is_built_from_the_host_header(node: LiveAPI, path: str) -> None:
    with node.client(ADMIN) as client:
        answer = client.get(path, headers={"Host": "evil.example"})
    assert "location" not in answer.headers
    assert "evil.example" not in answer.text
    assert answer.status_code == 404


# -- finding 15 ----------------------------------------------------------------------------


def test_every_answer_says_nosniff_and_authenticated_ones_no_store(
    node: LiveAPI, tokens: dict[str, str]
) -> None:
    with node.client(tokens["viewer"]) as viewer, node.client(None) as anonymous:
        authenticated = [
            viewer.get("/api/v1/jobs"),
            viewer.get("/api/v1/runs"),
            viewer.get("/api/v1/openapi.json"),
            viewer.get("/metrics"),
            viewer.get("/tasks/"),
            viewer.get("/api/v1/jobs/no-such-job"),  # 404
            viewer.post("/api/v1/jobs", json={"name": "x", "type": "noop"}),  # 403
            anonymous.get("/api/v1/jobs"),  # 401
            anonymous.get("/api/v1/nowhere"),  # 404 without a route
            viewer.post("/api/v1/jobs", content=b"x" * (2 << 20)),  # 413
        ]
        with viewer.stream("GET", "/api/v1/events/stream") as stream:
            authenticated.append(stream)
        public = [anonymous.get("/healthz"), anonymous.get("/readyz")]
    for answer in authenticated:
        assert answer.headers.get("x-content-type-options") == "nosniff", answer.request.url
        assert answer.headers.get("cache-control") == "no-store", answer.request.url
        assert len(answer.headers.get_list("cache-control")) == 1
    for answer in public:
        assert answer.headers.get("x-content-type-options") == "nosniff"
        assert "cache-control" not in answer.headers


# -- finding 6 -----------------------------------------------------------------------------


def _workers(node: LiveAPI) -> dict[str, dict[str, object]]:
    with node.client(ADMIN) as admin:
        return {w["id"]: w for w in admin.get("/api/v1/workers").json()["items"]}


def test_a_reported_worker_cannot_alter_a_tss_worker(node: LiveAPI, tokens: dict[str, str]) -> None:
    deadline = time.monotonic() + 10
    while not (tss_workers := _workers(node)):
        assert time.monotonic() < deadline, "the node's worker never registered"
        time.sleep(0.05)
    real_id, real = next(iter(tss_workers.items()))
    with node.client(tokens["operator"]) as operator:
        answer = operator.post(
            "/v1/queue",
            json={"worker_id": real_id, "hostname": "evil", "pid": 1, "state": "draining"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == f"ext:{real_id}"
    after = _workers(node)
    kept = after[real_id]
    for key in ("hostname", "pid", "concurrency", "pools", "started_at"):
        assert kept[key] == real[key], key
    assert kept["state"] == "up"
    assert after[f"ext:{real_id}"]["hostname"] == "evil"
    assert after[f"ext:{real_id}"]["state"] == "draining"
