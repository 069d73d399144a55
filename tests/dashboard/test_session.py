"""The dashboard's session over plain HTTP: login sets an HttpOnly SameSite=Strict cookie,
the cookie works on the API, unsafe requests need the CSRF token, logout clears it; the
pages carry a Content-Security-Policy and no inline script; the config is checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.live import ADMIN, LiveAPI, live_api
from tss.config import load_config
from tss.errors import ConfigError


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    with live_api(tmp_path_factory.mktemp("session"), dashboard={"title": "<b>ops</b>"}) as live:
        with live.client(ADMIN) as admin:
            assert admin.post("/api/v1/jobs", json={"name": "j", "type": "noop"}).status_code == 201
        yield live


def token(node: LiveAPI, role: str) -> str:
    with node.client(ADMIN) as admin:
        made = admin.post("/api/v1/tokens", json={"name": f"s-{role}", "role": role})
    text: str = made.json()["token"]
    return text


def login(node: LiveAPI, secret: str) -> tuple[httpx.Client, dict[str, Any]]:
    """A cookie-only client logged in with ``secret``, and the session it got."""
    client = httpx.Client(base_url=node.url, timeout=30)
    answer = client.post("/dashboard/login", json={"token": secret})
    assert answer.status_code == 200, answer.text
    return client, answer.json()


def test_login_sets_a_strict_http_only_cookie(node: LiveAPI) -> None:
    with httpx.Client(base_url=node.url) as client:
        answer = client.post("/dashboard/login", json={"token": ADMIN})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("tss_session=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/" in flags
    assert "max-age=43200" in flags
    assert "secure" not in flags  # plain HTTP on loopback; set under TLS
    body = answer.json()
    assert body["role"] == "admin" and body["logged_in"] and len(body["csrf"]) == 64


def test_a_bad_token_or_a_foreign_origin_cannot_log_in(node: LiveAPI) -> None:
    with httpx.Client(base_url=node.url) as client:
        bad = client.post("/dashboard/login", json={"token": "tss_0000_nope"})
        assert bad.status_code == 401 and "set-cookie" not in bad.headers
        foreign = client.post(
            "/dashboard/login", json={"token": ADMIN}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
        form = client.post("/dashboard/login", data={"token": ADMIN})
        assert form.status_code == 422  # a cross-site form cannot post JSON


def test_the_cookie_reads_the_api_and_actions_need_the_csrf_token(node: LiveAPI) -> None:
    client, session = login(node, token(node, "operator"))
    with closing(client):
        assert client.get("/api/v1/jobs").status_code == 200
        with client.stream("GET", "/api/v1/events/stream") as stream:
            assert stream.status_code == 200  # what EventSource does: the cookie alone
        missing = client.post("/api/v1/jobs/j/pause")
        assert missing.status_code == 403
        assert missing.json()["error"]["field"] == "X-CSRF-Token"
        wrong = client.post("/api/v1/jobs/j/pause", headers={"X-CSRF-Token": "0" * 64})
        assert wrong.status_code == 403
        right = client.post("/api/v1/jobs/j/pause", headers={"X-CSRF-Token": session["csrf"]})
        assert right.status_code == 200 and right.json()["paused"] is True
        assert client.post("/api/v1/jobs/j/resume", headers={"X-CSRF-Token": session["csrf"]})


def test_roles_apply_to_the_session(node: LiveAPI) -> None:
    client, session = login(node, token(node, "viewer"))
    with closing(client):
        refused = client.post("/api/v1/jobs/j/pause", headers={"X-CSRF-Token": session["csrf"]})
        assert refused.status_code == 403 and refused.json()["error"]["field"] == "role"


def test_logout_needs_csrf_and_clears_the_cookie(node: LiveAPI) -> None:
    client, session = login(node, token(node, "viewer"))
    with closing(client):
        assert client.post("/dashboard/logout").status_code == 403
        out = client.post("/dashboard/logout", headers={"X-CSRF-Token": session["csrf"]})
        assert out.status_code == 204
        assert re.search(r"tss_session=\"?\"?;.*max-age=0", out.headers["set-cookie"].lower())
        assert client.get("/dashboard/session").json()["logged_in"] is False
        assert client.get("/api/v1/jobs").status_code == 401


def test_a_revoked_token_ends_its_sessions(node: LiveAPI) -> None:
    client, _ = login(node, token(node, "admin"))
    with closing(client), node.client(ADMIN) as admin:
        assert client.get("/api/v1/jobs").status_code == 200
        assert admin.delete("/api/v1/tokens/s-admin").status_code == 204
        assert client.get("/api/v1/jobs").status_code == 401
        assert client.get("/dashboard/session").json()["logged_in"] is False


def _cookie_client(node: LiveAPI, session_id: str) -> httpx.Client:
    """A browser that still sends ``session_id`` (a copied or kept cookie)."""
    return httpx.Client(base_url=node.url, timeout=30, cookies={"tss_session": session_id})


def test_logout_ends_the_session_on_the_server(node: LiveAPI) -> None:
    client, session = login(node, token(node, "operator"))
    with closing(client):
        kept = client.cookies["tss_session"]
        out = client.post("/dashboard/logout", headers={"X-CSRF-Token": session["csrf"]})
        assert out.status_code == 204
    with _cookie_client(node, kept) as copied:
        refused = copied.get("/api/v1/jobs")
        assert refused.status_code == 401
        assert refused.json()["error"]["field"] == "tss_session"
        assert copied.get("/dashboard/session").json()["logged_in"] is False
        acting = copied.post("/api/v1/jobs/j/pause", headers={"X-CSRF-Token": session["csrf"]})
        assert acting.status_code == 401


def test_the_cookie_is_a_session_id_not_a_token(node: LiveAPI) -> None:
    secret = token(node, "admin")
    client, session = login(node, secret)
    with closing(client):
        cookie = client.cookies["tss_session"]
        assert cookie != secret and secret not in cookie
        with node.client(cookie) as bearer:
            assert bearer.get("/api/v1/jobs").status_code == 401
        other, second = login(node, secret)
        with closing(other):
            assert other.cookies["tss_session"] != cookie
            assert second["csrf"] != session["csrf"]  # CSRF tokens are per session
            crossed = other.post("/api/v1/jobs/j/pause", headers={"X-CSRF-Token": session["csrf"]})
            assert crossed.status_code == 403


def test_the_server_enforces_the_session_ttl(node: LiveAPI) -> None:
    from tss.tokens import hash_secret

    client, _ = login(node, token(node, "viewer"))
    with closing(client):
        kept = client.cookies["tss_session"]
        assert client.get("/api/v1/jobs").status_code == 200
    store = node.tss.store
    stored = node.call(store.get_session(hash_secret(kept)))
    ttl = node.settings.dashboard.session_ttl
    assert (stored.expires_at - stored.created_at).total_seconds() == ttl
    # The session reaches its end while the browser keeps the cookie (Max-Age is the
    # browser's business; the server decides).
    node.call(store.delete_session(stored.id_hash))
    ended = replace(stored, expires_at=node.call(store.now()))
    node.call(store.create_session(ended))
    with _cookie_client(node, kept) as browser:
        assert browser.get("/api/v1/jobs").status_code == 401
        assert browser.get("/dashboard/session").json()["logged_in"] is False


def test_changing_the_admin_token_ends_its_sessions(tmp_path: Path) -> None:
    with live_api(tmp_path) as first:
        client, _ = login(first, ADMIN)
        kept = client.cookies["tss_session"]
        client.close()
    other = "another-admin-token-0123456789"
    with live_api(tmp_path, api={"admin_token": other}) as second:
        with _cookie_client(second, kept) as browser:
            assert browser.get("/api/v1/jobs").status_code == 401
        client, _ = login(second, other)
        with closing(client):
            assert client.get("/api/v1/jobs").status_code == 200


def test_pages_carry_a_csp_and_no_inline_script(node: LiveAPI) -> None:
    with httpx.Client(base_url=node.url) as client:
        for path in ("/dashboard", "/dashboard/jobs/j", "/dashboard/static/js/main.js"):
            answer = client.get(path)
            assert answer.status_code == 200, path
            csp = answer.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert answer.headers["x-frame-options"] == "DENY"
        html = client.get("/dashboard").text
        assert "<b>ops</b>" not in html and "&lt;b&gt;ops&lt;/b&gt;" in html
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
        assert scripts and all(body.strip() == "" for body in scripts)
        assert "style=" not in html and "<style" not in html
        assert "http://" not in html and "https://" not in html  # nothing from elsewhere


def test_every_module_the_scripts_import_is_served(node: LiveAPI) -> None:
    static = Path(__file__).resolve().parents[2] / "src/tss/dashboard/static"
    with httpx.Client(base_url=node.url) as client:
        for script in static.rglob("*.js"):
            text = script.read_text()
            assert "innerHTML" not in text and "eval(" not in text, script
            for target in re.findall(r"(?:from|import\() *\"(\.[^\"]+)\"", text):
                path = (script.parent / target).resolve().relative_to(static)
                answer = client.get(f"/dashboard/static/{path}")
                assert answer.status_code == 200, f"{script.name} imports {target}"
        assert client.get("/dashboard/theme.css").text.count("--accent") >= 1


def test_theme_colours_reach_the_stylesheet(tmp_path: Path) -> None:
    theme = {"base": "dark", "accent": "#ff8800"}
    with live_api(tmp_path, dashboard={"theme": theme}) as other, other.client() as client:
        css = client.get("/dashboard/theme.css").text
        assert "--accent: #ff8800;" in css and "--background: #0d1117;" in css
        assert "prefers-color-scheme" not in css


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("dashboard: {theme: purple}", "dashboard.theme.base"),
        ("dashboard: {theme: {accent: red}}", "dashboard.theme.accent"),
        ("dashboard: {timezone: Mars/Olympus}", "dashboard.timezone"),
        ("dashboard: {pages: [overview, secrets]}", "dashboard.pages"),
        ("dashboard: {job_columns: [name, colour]}", "dashboard.job_columns"),
        ("dashboard: {refresh: sometimes}", "dashboard.refresh"),
        ("dashboard: {titel: x}", "dashboard.titel"),
    ],
)
def test_a_bad_dashboard_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), environ={})
    assert caught.value.field == key
    assert f"{key}:" in str(caught.value)


def test_the_dashboard_can_be_turned_off(tmp_path: Path) -> None:
    with live_api(tmp_path, dashboard={"enabled": False}) as other, other.client() as client:
        assert client.get("/dashboard").status_code == 404
        assert client.get("/api/v1/jobs").status_code == 200


def test_the_flows_page_follows_the_pages_list(tmp_path: Path) -> None:
    pages = {"pages": ["overview", "runs"]}
    with live_api(tmp_path, dashboard=pages) as other, other.client() as client:
        shell = client.get("/dashboard/flows").text
    assert "&quot;pages&quot;:[&quot;overview&quot;,&quot;runs&quot;]" in shell
    default = load_config(None, environ={}).dashboard.pages
    assert default[:4] == ["overview", "jobs", "runs", "flows"]
