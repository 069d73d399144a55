"""`tss api` and `tss server` as HTTP servers: TLS, the loopback rule, a taken port."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Project

ADMIN = "e2e-admin-token-0123456789"


def url_of(project: Project) -> str:
    project.wait_for_log("press Ctrl+C")
    log = (project.root / "server.log").read_text()
    found = re.search(r"api +(https?://\S+?)/api/v1", log)
    assert found, log
    return found.group(1)


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.slow
def test_tls_api_alone_with_the_environment_admin_token(project: Project) -> None:
    cert, key = self_signed(project.root)
    project.write(
        "config.yaml",
        (project.root / "config.yaml").read_text()
        + f"broker: {{url: 'store://'}}\nserver: {{port: 0, tls_cert: {cert}, tls_key: {key}}}\n",
    )
    project.env["TSS_ADMIN_TOKEN"] = ADMIN
    server = project.start("api")
    url = url_of(project)
    assert url.startswith("https://127.0.0.1:")
    with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=cert)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/api/v1/jobs").status_code == 401
        headers = {"Authorization": f"Bearer {ADMIN}"}
        made = client.post("/api/v1/jobs", json={"name": "tls", "type": "noop"}, headers=headers)
        assert made.status_code == 201, made.text
    with pytest.raises(httpx.TransportError):  # plain HTTP is not answered as HTTP
        httpx.get(url.replace("https", "http") + "/healthz", timeout=5).raise_for_status()
    assert project.stop(server) == 0
    # The job was stored where the local CLI sees it.
    assert [j["name"] for j in project.json("job", "list")] == ["tls"]


def test_auth_off_beyond_loopback_refuses_to_start(project: Project) -> None:
    project.write(
        "config.yaml",
        (project.root / "config.yaml").read_text() + "api: {auth: false}\n",
    )
    refused = project.tss("server", "--host", "0.0.0.0")
    assert refused.code == 2, refused
    (line,) = refused.err.splitlines()
    assert line.startswith("error: api.auth: false is only allowed while the server listens on")
    assert "0.0.0.0" in line


def test_half_a_tls_pair_is_refused(project: Project) -> None:
    project.write("config.yaml", (project.root / "config.yaml").read_text()
                  + "server: {port: 0, tls_cert: cert.pem}\n")  # fmt: skip
    refused = project.tss("api")
    assert refused.code == 2, refused
    assert "server.tls_key" in refused.err


def test_a_taken_port_is_reported(project: Project) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = project.tss("server", "--port", str(port))
    assert refused.code == 2, refused
    assert f"server.port: cannot listen on 127.0.0.1:{port}" in refused.err


@pytest.mark.slow
def test_a_worker_waits_for_an_unreachable_store(project: Project) -> None:
    project.write(
        "config.yaml",
        "store: {url: 'postgresql://tss:hidden-pw@127.0.0.1:9/tss'}\nbroker: {url: 'store://'}\n",
    )
    worker = project.start("worker")
    project.wait_for_log("retrying every 0.5s", timeout=15)
    assert worker.poll() is None  # still alive, still trying
    log = (project.root / "server.log").read_text()
    assert "127.0.0.1:9" in log
    assert "hidden-pw" not in log
    assert project.stop(worker) in (0, -15, 143)


def test_an_sqlite_file_that_cannot_be_opened_stops_at_once(project: Project) -> None:
    project.write("config.yaml", "store: {url: 'sqlite:///no/such/folder/tss.db'}\n")
    result = project.tss("worker", timeout=20)
    assert result.code != 0, result
    assert "cannot open the SQLite database" in result.err
    assert "retrying" not in result.err
