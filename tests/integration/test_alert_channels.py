"""The alert channels against real servers on loopback: an aiosmtpd SMTP server (plain, and
STARTTLS with a trustme CA and AUTH), and the threaded HTTP receiver for Slack and
webhooks. Only the resolver is swapped, to map ``localhost`` to 127.0.0.1 so that TLS is
seen to use the host's name while the connection goes to the checked address."""

from __future__ import annotations

import email
import email.policy
import ipaddress
import logging
import socket
import ssl
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import pytest
import trustme
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.integration.smtp import FreePortController
from tss.alerts.channels import (
    Channel,
    DeliveryError,
    EmailChannel,
    build_channels,
    check_channels,
    signature,
)
from tss.config import Settings
from tss.config.alerts import AlertsConfig
from tss.config.alerts import EmailChannel as EmailConfig
from tss.core.alerts import Alert
from tss.errors import ConfigError
from tss.net.guard import AddressPolicy, IPAddress, resolve
from tss.service import TSSApp

from .receiver import Receiver, receiving

LOOPBACK = ["127.0.0.1/32"]
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LINK = "https://tss.example/runs/run-1"


def an_alert(**changes: Any) -> Alert:
    values: dict[str, Any] = {
        "id": "failed:etl:ev-1@ops",
        "channel": "ops",
        "kind": "failed",
        "subject": "etl failed",
        "text": "exit code 2",
        "created_at": WHEN,
        "next_at": WHEN,
        "job": "etl",
        "run_id": "run-1",
        "details": {"attempt": 2, "pool": "default", "link": LINK},
    }
    return Alert(**(values | changes))


# -- an SMTP server ------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the SMTP server took in. RCPT to ``bad@`` is refused for good (550), to
    ``later@`` for now (451)."""

    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[bytes] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("bad@"):
            return "550 5.1.1 no such user"
        if address.startswith("later@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        found = []
        for envelope in self.envelopes:
            raw = envelope.original_content or envelope.content
            assert isinstance(raw, bytes)
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
        return found


@dataclass
class Smtp:
    port: int
    mailbox: Mailbox


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    """A plain SMTP server (no TLS, no AUTH) on 127.0.0.1."""
    mailbox = Mailbox()
    controller = FreePortController(mailbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield Smtp(controller.port, mailbox)
    finally:
        controller.stop()


@dataclass
class TlsSmtp(Smtp):
    client_context: ssl.SSLContext


@pytest.fixture
def tls_smtp() -> Iterator[TlsSmtp]:
    """An SMTP server on 127.0.0.1 that requires STARTTLS (its certificate is for the name
    ``localhost`` only) and AUTH over TLS (alerts / right-password)."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    mailbox = Mailbox()

    def authenticator(
        server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"alerts",
            b"right-password",
        )
        if ok:
            mailbox.logins.append(data.login)
        return AuthResult(success=ok, handled=False)  # (handled: a reply was sent)

    controller = FreePortController(
        mailbox,
        hostname="127.0.0.1",
        port=0,
        tls_context=server_context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield TlsSmtp(controller.port, mailbox, client_context)
    finally:
        controller.stop()


async def to_loopback(host: str, port: int) -> list[IPAddress]:
    """The system's resolver, but ``localhost`` is 127.0.0.1 (and never ::1)."""
    if host == "localhost":
        return [ipaddress.ip_address("127.0.0.1")]
    return await resolve(host, port)


def email_config(port: int, **more: Any) -> dict[str, Any]:
    values = {"type": "email", "host": "127.0.0.1", "port": port, "security": "none"}
    return values | {"from": "tss@example.com", "to": ["ops@example.com"]} | more


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- email ---------------------------------------------------------------------------------


async def test_a_mail_arrives_once_with_its_subject_header_text_details_and_link(
    smtp: Smtp,
) -> None:
    config = AlertsConfig(channels={"ops": email_config(smtp.port)}, allow=LOOPBACK)
    channels = build_channels(config)
    await check_channels(channels)  # reaches the server, sends nothing
    assert smtp.mailbox.envelopes == []
    # A subject with a line break cannot add a header.
    alert = an_alert(subject="etl failed\r\nBcc: evil@example.com")
    await channels["ops"].send(alert)
    assert len(smtp.mailbox.envelopes) == 1
    envelope = smtp.mailbox.envelopes[0]
    assert envelope.mail_from == "tss@example.com" and envelope.rcpt_tos == ["ops@example.com"]
    [message] = smtp.mailbox.messages()
    assert message["Subject"] == "etl failed Bcc: evil@example.com"
    assert message["Bcc"] is None
    assert message["From"] == "tss@example.com" and message["To"] == "ops@example.com"
    assert message["X-TSS-Alert-Id"] == "failed:etl:ev-1@ops"
    assert message["Date"] == "Wed, 01 May 2024 12:00:00 +0000"
    body = message.get_content().replace("\r\n", "\n")  # CRLF on the wire
    assert body == f"exit code 2\n\nattempt: 2\npool: default\n\n{LINK}\n"
    # The same alert again is the same Message-ID: a mail system can drop the repeat.
    await channels["ops"].send(alert)
    first, second = smtp.mailbox.messages()
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"].endswith("@example.com>")
    await channels["ops"].send(an_alert(id="failed:etl:ev-2@ops"))
    assert smtp.mailbox.messages()[2]["Message-ID"] != first["Message-ID"]


async def test_non_ascii_text_and_long_lines_arrive_intact(smtp: Smtp) -> None:
    config = AlertsConfig(channels={"ops": email_config(smtp.port)}, allow=LOOPBACK)
    text = "Zürich: échec — " + "x" * 1200
    await build_channels(config)["ops"].send(an_alert(subject="étl failed", text=text))
    [message] = smtp.mailbox.messages()
    assert message["Subject"] == "étl failed"
    assert message.get_content().replace("\r\n", "\n").startswith(text + "\n\n")


async def test_starttls_checks_the_certificate_against_the_host_name_and_logs_in(
    tls_smtp: TlsSmtp,
) -> None:
    spec = EmailConfig.model_validate(
        email_config(tls_smtp.port, host="localhost", security="starttls", username="alerts")
    )
    policy = AddressPolicy(allow=LOOPBACK, key="alerts")

    def channel(password: str, spec: EmailConfig = spec) -> EmailChannel:
        return EmailChannel(
            "ops",
            spec,
            password=password,
            policy=policy,
            resolver=to_loopback,
            ssl_context=tls_smtp.client_context,
        )

    await channel("right-password").check()
    await channel("right-password").send(an_alert())
    assert len(tls_smtp.mailbox.envelopes) == 1 and tls_smtp.mailbox.logins == [b"alerts"]
    assert tls_smtp.mailbox.messages()[0]["Subject"] == "etl failed"

    with pytest.raises(DeliveryError) as wrong:
        await channel("wrong-password").send(an_alert())
    assert wrong.value.final
    assert str(wrong.value).startswith(
        f"email channel 'ops': localhost:{tls_smtp.port} answered the login with 535"
    )
    assert "wrong-password" not in str(wrong.value)

    # The same server by its address: the certificate is for "localhost", so TLS fails
    # (which is what shows that the name, not the address, was checked above).
    by_address = spec.model_copy(update={"host": "127.0.0.1"})
    with pytest.raises(DeliveryError) as mismatch:
        await channel("right-password", by_address).send(an_alert())
    assert "STARTTLS failed" in str(mismatch.value)
    assert "certificate" in str(mismatch.value).lower()
    assert len(tls_smtp.mailbox.envelopes) == 1


async def test_starttls_is_required_when_security_says_so(smtp: Smtp) -> None:
    config = AlertsConfig(
        channels={"ops": email_config(smtp.port, security="starttls")}, allow=LOOPBACK
    )
    with pytest.raises(DeliveryError) as refused:
        await build_channels(config)["ops"].send(an_alert())
    assert refused.value.final and "does not offer STARTTLS" in str(refused.value)
    assert smtp.mailbox.envelopes == []


async def test_a_refused_recipient_is_final_and_a_deferred_one_is_retried(smtp: Smtp) -> None:
    channels = build_channels(
        AlertsConfig(
            channels={
                "bad": email_config(smtp.port, to=["bad@example.com"]),
                "later": email_config(smtp.port, to=["later@example.com"]),
                "some": email_config(smtp.port, to=["bad@example.com", "ops@example.com"]),
            },
            allow=LOOPBACK,
        )
    )
    with pytest.raises(DeliveryError) as bad:
        await channels["bad"].send(an_alert())
    assert bad.value.final and "refused every recipient: 550 5.1.1 no such user" in str(bad.value)
    with pytest.raises(DeliveryError) as later:
        await channels["later"].send(an_alert())
    assert not later.value.final and "451 4.3.0" in str(later.value)
    # One recipient of two refused: delivered to the other (a retry would repeat it).
    await channels["some"].send(an_alert())
    assert [e.rcpt_tos for e in smtp.mailbox.envelopes] == [["ops@example.com"]]


async def test_the_guard_refuses_loopback_unless_it_is_allowed(smtp: Smtp) -> None:
    config = AlertsConfig(channels={"ops": email_config(smtp.port)})
    channels = build_channels(config)
    with pytest.raises(DeliveryError) as refused:
        await channels["ops"].send(an_alert())
    assert refused.value.final
    assert "127.0.0.1 is a loopback address" in str(refused.value)
    assert 'alerts.allow: ["127.0.0.1/32"] or alerts.allow_private: true' in str(refused.value)
    with pytest.raises(ConfigError) as at_start:
        await check_channels(channels)
    assert str(at_start.value).startswith("alerts.channels.ops.host: refused to connect")
    assert smtp.mailbox.envelopes == []
    # allow_private lets it through: the refusal was the guard's.
    allowed = AlertsConfig(channels={"ops": email_config(smtp.port)}, allow_private=True)
    await build_channels(allowed)["ops"].send(an_alert())
    assert len(smtp.mailbox.envelopes) == 1


async def test_a_server_that_cannot_be_reached_fails_the_check_naming_the_key() -> None:
    port = closed_port()
    config = AlertsConfig(
        channels={"ops": email_config(port), "log": {"type": "log"}}, allow=LOOPBACK
    )
    channels = build_channels(config)
    with pytest.raises(ConfigError) as failed:
        await check_channels(channels)
    assert failed.value.field == "alerts.channels.ops.host"
    assert str(failed.value) == (
        f"alerts.channels.ops.host: cannot reach 127.0.0.1:{port}: Connection refused"
    )
    with pytest.raises(DeliveryError) as later:
        await channels["ops"].send(an_alert())
    assert not later.value.final  # the server may come back
    assert str(later.value) == (
        f"email channel 'ops': cannot reach 127.0.0.1:{port}: Connection refused"
    )


# -- webhooks and Slack --------------------------------------------------------------------


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiving("127.0.0.1") as receiver:
        yield receiver


def webhook(url: str, **more: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": url} | more


async def test_a_webhook_posts_the_alert_as_signed_json(hook: Receiver) -> None:
    config = AlertsConfig(
        channels={
            "hooks": webhook(
                hook.url("/json?token=tok-123"),
                secret="s3cret-key",
                headers={"Authorization": "Bearer hdr-456"},
            )
        },
        allow=LOOPBACK,
    )
    channels = build_channels(config)
    await check_channels(channels)  # nothing is posted at start
    assert hook.seen == []
    alert = an_alert(text="exit code 2 — ünïcode")
    try:
        await channels["hooks"].send(alert)
    finally:
        await channels["hooks"].aclose()
    [seen] = hook.seen
    assert seen.method == "POST" and seen.path == "/json?token=tok-123"
    body = orjson.loads(seen.body)
    assert body == {
        "id": "failed:etl:ev-1@ops",
        "kind": "failed",
        "job": "etl",
        "run_id": "run-1",
        "subject": "etl failed",
        "text": "exit code 2 — ünïcode",
        "details": {"attempt": 2, "pool": "default", "link": LINK},
        "created_at": "2024-05-01T12:00:00+00:00",
    }
    headers = seen.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("tss/")
    assert headers["X-TSS-Alert-Id"] == "failed:etl:ev-1@ops"
    assert headers["Authorization"] == "Bearer hdr-456"
    timestamp = headers["X-TSS-Timestamp"]
    assert abs(int(timestamp) - datetime.now(UTC).timestamp()) < 60
    raw = seen.body.encode()
    assert headers["X-TSS-Signature"] == signature("s3cret-key", timestamp, raw)
    assert headers["X-TSS-Signature"] != signature("another-key", timestamp, raw)
    assert headers["X-TSS-Signature"] != signature("s3cret-key", str(int(timestamp) + 1), raw)
    assert headers["X-TSS-Signature"].startswith("sha256=")


async def test_a_webhook_without_secret_is_not_signed(hook: Receiver) -> None:
    channels = build_channels(
        AlertsConfig(channels={"hooks": webhook(hook.url("/json"))}, allow=LOOPBACK)
    )
    await channels["hooks"].send(an_alert())
    await channels["hooks"].aclose()
    assert "X-TSS-Signature" not in hook.seen[0].headers


async def test_webhook_statuses_retried_or_final_and_no_secret_in_the_errors(
    hook: Receiver,
) -> None:
    secrets = {"secret": "s3cret-key", "headers": {"Authorization": "Bearer hdr-456"}}
    later = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    paths = {
        "busy": "/status/503?retry_after=7&token=tok-123",
        "gone": "/status/404?token=tok-123",
        "slow-down": "/status/429?retry_after=999999",
        "dated": f"/status/503?retry_after={later}",
        "timeout": "/status/408",
        "moved": "/status/302",
    }
    config = AlertsConfig(
        channels={name: webhook(hook.url(path), **secrets) for name, path in paths.items()},
        allow=LOOPBACK,
    )
    channels = build_channels(config)
    errors: dict[str, DeliveryError] = {}
    for name, channel in channels.items():
        with pytest.raises(DeliveryError) as failed:
            await channel.send(an_alert())
        errors[name] = failed.value
        await channel.aclose()
    busy, gone = errors["busy"], errors["gone"]
    assert (busy.final, busy.retry_after) == (False, 7.0)
    assert str(busy) == "webhook channel 'busy': answered 503 Service Unavailable (Retry-After: 7s)"
    assert (gone.final, gone.retry_after) == (True, None)
    assert str(gone) == "webhook channel 'gone': answered 404 Not Found"
    assert errors["slow-down"].retry_after == 3600.0  # capped at an hour
    dated = errors["dated"].retry_after
    assert dated is not None and 100 < dated <= 120
    assert not errors["timeout"].final and errors["timeout"].retry_after is None
    assert errors["moved"].final  # redirects are not followed
    for error in errors.values():
        text = str(error)
        for secret in ("tok-123", "s3cret-key", "hdr-456", "127.0.0.1", "/status", "http"):
            assert secret not in text


async def test_a_webhook_that_cannot_be_reached_or_is_not_allowed() -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}/hook?token=tok-123"
    refused = build_channels(AlertsConfig(channels={"hooks": webhook(url)}))["hooks"]
    with pytest.raises(DeliveryError) as guarded:
        await refused.send(an_alert())
    assert guarded.value.final and "127.0.0.1 is a loopback address" in str(guarded.value)
    assert "tok-123" not in str(guarded.value)
    closed = build_channels(AlertsConfig(channels={"hooks": webhook(url)}, allow=LOOPBACK))
    with pytest.raises(DeliveryError) as down:
        await closed["hooks"].send(an_alert())
    assert not down.value.final and "tok-123" not in str(down.value)
    assert str(down.value).startswith("webhook channel 'hooks': the request failed: ")


async def test_slack_gets_the_subject_the_text_and_the_link(hook: Receiver) -> None:
    config = AlertsConfig(
        channels={"team": {"type": "slack", "url": hook.url("/json")}}, allow=LOOPBACK
    )
    channel = build_channels(config)["team"]
    await channel.send(an_alert(text="exit code 2 <!channel> & more"))
    await channel.send(an_alert(details={}))
    await channel.aclose()
    first, second = (orjson.loads(seen.body) for seen in hook.seen)
    assert first == {
        "text": f"*etl failed*\nexit code 2 &lt;!channel&gt; &amp; more\n<{LINK}|Open in TSS>"
    }
    assert second == {"text": "*etl failed*\nexit code 2"}
    assert hook.seen[0].headers["Content-Type"] == "application/json"


async def test_a_slack_error_names_the_channel_and_not_the_url(hook: Receiver) -> None:
    url = hook.url("/status/404?T000/B000/XXXXSECRET")
    config = AlertsConfig(channels={"team": {"type": "slack", "url": url}}, allow=LOOPBACK)
    channel = build_channels(config)["team"]
    with pytest.raises(DeliveryError) as failed:
        await channel.send(an_alert())
    await channel.aclose()
    assert failed.value.final
    assert str(failed.value) == "slack channel 'team': answered 404 Not Found"


# -- the log -------------------------------------------------------------------------------


async def test_the_log_channel_writes_one_line(caplog: pytest.LogCaptureFixture) -> None:
    channels = build_channels(AlertsConfig(channels={"log": {"type": "log", "level": "error"}}))
    with caplog.at_level(logging.INFO, logger="tss.alerts"):
        await channels["log"].send(an_alert())
    [record] = [r for r in caplog.records if r.name == "tss.alerts"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "alert failed:etl:ev-1@ops: etl failed: exit code 2"


# -- secrets -------------------------------------------------------------------------------


async def test_secrets_are_read_from_the_environment_and_files(
    hook: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable = f"TSS_TEST_HOOK_{uuid.uuid4().hex[:8].upper()}"
    monkeypatch.setenv(variable, "Bearer from-env")
    monkeypatch.setenv(f"{variable}_URL", hook.url("/json"))
    key_file = tmp_path / "signing-key"
    key_file.write_text("from-file-key\n")
    config = AlertsConfig(
        channels={
            "hooks": webhook(
                {"from_env": f"{variable}_URL"},
                secret={"from_file": str(key_file)},
                headers={"Authorization": {"from_env": variable}},
            )
        },
        allow=LOOPBACK,
    )
    channel = build_channels(config)["hooks"]
    await channel.send(an_alert())
    await channel.aclose()
    [seen] = hook.seen
    assert seen.headers["Authorization"] == "Bearer from-env"
    expected = signature("from-file-key", seen.headers["X-TSS-Timestamp"], seen.body.encode())
    assert seen.headers["X-TSS-Signature"] == expected


def test_a_missing_secret_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    variable = f"TSS_TEST_NO_SUCH_{uuid.uuid4().hex[:8].upper()}"
    spec = email_config(25, username="alerts", password={"from_env": variable})
    with pytest.raises(ConfigError) as missing:
        build_channels(AlertsConfig(channels={"ops": spec}))
    assert str(missing.value) == (
        f"alerts.channels.ops.password: the environment has no variable {variable}"
    )
    assert missing.value.field == "alerts.channels.ops.password"
    absent = str(tmp_path / "absent")
    config = AlertsConfig(
        channels={"hooks": webhook("https://hooks.example/x", secret={"from_file": absent})}
    )
    with pytest.raises(ConfigError) as unreadable:
        build_channels(config)
    assert str(unreadable.value).startswith(f"alerts.channels.hooks.secret: cannot read {absent}")


def test_a_url_that_is_not_one_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    variable = f"TSS_TEST_URL_{uuid.uuid4().hex[:8].upper()}"
    monkeypatch.setenv(variable, "ftp://hooks.example/T0/B0/very-secret")
    config = AlertsConfig(channels={"team": {"type": "slack", "url": {"from_env": variable}}})
    with pytest.raises(ConfigError) as bad:
        build_channels(config)
    assert str(bad.value).startswith("alerts.channels.team.url: not an http(s) address")
    assert "very-secret" not in str(bad.value)


def test_tss_own_headers_cannot_be_configured() -> None:
    for name in ("X-TSS-Signature", "content-type"):
        with pytest.raises(ValueError, match="set by TSS itself"):
            AlertsConfig(channels={"h": webhook("https://hooks.example/x", headers={name: "v"})})


# -- plugins -------------------------------------------------------------------------------


class RecordingChannel(Channel):
    """A plugin channel: keeps what it is sent."""

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.config = config
        self.sent: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.sent.append(alert)


class NotAChannel:
    def __init__(self, name: str, config: dict[str, Any]) -> None:
        pass


def plugin(class_: str, **config: Any) -> dict[str, Any]:
    return {"type": "plugin", "class": class_, "config": config}


async def test_a_plugin_channel_is_loaded_by_its_path_with_its_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    variable = f"TSS_TEST_PLUGIN_{uuid.uuid4().hex[:8].upper()}"
    monkeypatch.setenv(variable, "plugin-token")
    path = f"{__name__}:RecordingChannel"
    config = AlertsConfig(channels={"pager": plugin(path, token={"from_env": variable}, level=3)})
    channels = build_channels(config)
    channel = channels["pager"]
    assert isinstance(channel, RecordingChannel)
    assert (channel.name, channel.type) == ("pager", "plugin")
    assert channel.config == {"token": "plugin-token", "level": 3}
    await check_channels(channels)
    await channel.send(an_alert())
    assert [a.id for a in channel.sent] == ["failed:etl:ev-1@ops"]


async def test_a_plugin_from_python_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The node puts the config's python_path on sys.path when it starts; the channels it
    then builds import a plugin from there."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # restored after the test
    module = f"tss_test_alerts_{uuid.uuid4().hex[:8]}"
    monkeypatch.delitem(sys.modules, module, raising=False)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / f"{module}.py").write_text(
        "from tss.alerts.channels import Channel\n\n"
        "class Pager(Channel):\n"
        "    def __init__(self, name, config):\n"
        "        self.config = config\n\n"
        "    async def send(self, alert):\n"
        "        pass\n"
    )
    settings = Settings(
        store={"url": "memory://"},
        python_path=[str(tmp_path / "plugins")],
        alerts={"channels": {"pager": plugin(f"{module}:Pager", a=1)}},
    )
    node = TSSApp(settings)
    await node.start()
    try:
        channel = (await node.alert_channels())["pager"]
        assert type(channel).__name__ == "Pager" and channel.name == "pager"
    finally:
        await node.close()
    monkeypatch.delitem(sys.modules, module)


@pytest.mark.parametrize(
    ("class_", "says"),
    [
        (f"{__name__}:NotAChannel", "is not a subclass of tss.alerts.channels.Channel"),
        (f"{__name__}:Channel", "does not implement send"),
        (f"{__name__}:Nothing", "has no attribute 'Nothing'"),
        ("tss_no_such_module_here:X", "no module named 'tss_no_such_module_here'"),
    ],
)
def test_a_class_that_is_not_a_channel_is_refused(class_: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        build_channels(AlertsConfig(channels={"pager": plugin(class_)}))
    assert refused.value.field == "alerts.channels.pager.class"
    assert str(refused.value).startswith("alerts.channels.pager.class")
    assert says in str(refused.value)
