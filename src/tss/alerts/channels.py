"""The channels alerts are delivered through: email (SMTP), Slack, signed webhooks, the log,
and plugin classes.

:func:`build_channels` makes one channel per ``alerts.channels`` entry, reading secret
references (``{from_env: NAME}``, ``{from_file: /path}``) as it does; :func:`check_channels`
reaches each destination once when the server starts.

Every connection goes through the SSRF guard (:mod:`tss.net.guard`) with the policy of
``alerts.allow_private`` and ``alerts.allow``: the host is resolved once, each address
checked, and the connection made to a checked address, while TLS (the server name and
the certificate check) uses the host's name. SMTP is the standard library's
:mod:`smtplib`, run on a worker thread; HTTP goes through the guarded httpx transport
(:mod:`tss.net.transport`), one per channel. Not an ``httpx.AsyncClient``: it logs each
request's URL at INFO, and a Slack webhook's URL is its secret.

No error message carries a secret: not a password, a webhook URL, a header value or a
signing secret.

A webhook receiver verifies a request with :func:`signature`::

    expected = signature(secret, request.headers["X-TSS-Timestamp"], raw_body)
    hmac.compare_digest(expected, request.headers["X-TSS-Signature"])

(and refuses timestamps too far from its clock, so a captured request cannot be replayed).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import email.utils
import functools
import hashlib
import hmac
import inspect
import logging
import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx
import orjson

from tss._secrets import is_reference, scrub
from tss._version import __version__
from tss.alerts.base import Channel, DeliveryError
from tss.config import alerts as cfg
from tss.core.alerts import Alert
from tss.errors import ConfigError, TSSError
from tss.net.guard import AddressPolicy, AddressRefused, IPAddress, Resolver, resolve
from tss.net.headers import retry_after
from tss.net.transport import GuardedTransport, read_body
from tss.tasks._env import _read_secret
from tss.tasks.plugins import PluginError, _import

__all__ = [
    "Channel",
    "DeliveryError",
    "EmailChannel",
    "LogChannel",
    "SlackChannel",
    "WebhookChannel",
    "build_channels",
    "check_channels",
    "signature",
]

log = logging.getLogger("tss.alerts")

_USER_AGENT = f"tss/{__version__}"
#: the longest wait a Retry-After header may ask for
MAX_RETRY_AFTER = 3600.0
#: HTTP statuses that are tried again (with every 5xx)
_RETRIED = frozenset({408, 429})
#: how much of an answer's body is read (to keep the connection for reuse)
_MAX_BODY = 64 << 10
#: an answer's body quoted in an error only when it is an error code such as Slack's
#: ``no_service`` (a word cannot carry the URL or a header echoed back)
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,80}")
#: mail text: CRLF line ends, and non-ASCII bodies as quoted-printable or base64 (a server
#: without 8BITMIME takes them)
_MAIL_POLICY = email.policy.SMTP.clone(cte_type="7bit")
#: the steps of an SMTP session, as error messages name them
_STEPS = {
    "connection": "the greeting",
    "EHLO": "EHLO",
    "STARTTLS": "STARTTLS",
    "login": "the login",
    "message": "the message",
    "QUIT": "QUIT",
}
#: the name TSS gives itself in EHLO (the host's FQDN; looked up once)
_local_name = functools.cache(socket.getfqdn)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-TSS-Signature`` of a webhook request: ``sha256=`` and the hex HMAC-SHA256,
    keyed with ``secret``, of ``"<timestamp>."`` followed by the raw body."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def _one_line(text: str) -> str:
    """``text`` without line breaks (a header value)."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _value(value: Any) -> str:
    """A detail's value as a line of a message."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _reason(exc: BaseException) -> str:
    """What an OS-level error says, without a traceback's worth of text."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _policy(config: cfg.AlertsConfig) -> AddressPolicy:
    return AddressPolicy(config.allow_private, tuple(config.allow), key="alerts")


# -- email -------------------------------------------------------------------------------


def _connect(addresses: Sequence[IPAddress], port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first of ``addresses`` that answers (each checked by the
    address policy already: connecting by address asks no resolver again)."""
    failure: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((str(address), port), timeout)
        except OSError as exc:
            failure = exc
    assert failure is not None  # the policy's check returns an address or raises
    raise failure


class _SMTP(smtplib.SMTP):
    """:class:`smtplib.SMTP` connected to ``host`` at one of its checked ``addresses``;
    ``host`` stays its name (STARTTLS checks the certificate against it)."""

    def __init__(
        self, addresses: Sequence[IPAddress], host: str, port: int, timeout: float
    ) -> None:
        self._addresses = list(addresses)
        # (Connecting here, not by connect(): only the constructor sets the name TLS uses.)
        super().__init__(host, port, local_hostname=_local_name(), timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return _connect(self._addresses, port, timeout)


class _SMTPS(smtplib.SMTP_SSL):
    """:class:`smtplib.SMTP_SSL` (implicit TLS) connecting to checked addresses."""

    def __init__(
        self,
        addresses: Sequence[IPAddress],
        host: str,
        port: int,
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        self._addresses = list(addresses)
        super().__init__(host, port, local_hostname=_local_name(), timeout=timeout, context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = _connect(self._addresses, port, timeout)
        try:
            return self.context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise


class EmailChannel(Channel):
    """Mail through an SMTP server (:mod:`smtplib` on a worker thread).

    ``security``: ``starttls`` requires STARTTLS (a server that does not offer it is
    refused), ``tls`` is TLS from the first byte (port 465), ``none`` is plain text, for a
    relay on the same host or network only. The certificate is checked against ``host``
    with ``ssl_context`` (the system's trust store by default). It logs in when
    ``username`` is set.
    """

    type = "email"

    def __init__(
        self,
        name: str,
        config: cfg.EmailChannel,
        *,
        password: str | None = None,
        policy: AddressPolicy | None = None,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._password = password
        self._policy = policy or AddressPolicy(key="alerts")
        self._resolve = resolver or resolve
        self._ssl = ssl_context or ssl.create_default_context()
        self._where = f"{config.host}:{config.port}"

    async def send(self, alert: Alert) -> None:
        try:
            addresses = await self._addresses()
            await asyncio.to_thread(self._talk, addresses, self.message(alert))
        except DeliveryError as exc:
            raise DeliveryError(
                f"email channel {self.name!r}: {exc}", final=exc.final, retry_after=exc.retry_after
            ) from None

    async def check(self) -> None:
        addresses = await self._addresses()
        await asyncio.to_thread(self._talk, addresses, None)

    def message(self, alert: Alert) -> EmailMessage:
        """The mail of ``alert``."""
        config = self.config
        message = EmailMessage(policy=_MAIL_POLICY)
        message["Subject"] = _one_line(alert.subject)
        message["From"] = config.sender
        message["To"] = ", ".join(config.to)
        message["Date"] = email.utils.format_datetime(_aware(alert.created_at))
        digest = hashlib.sha256(alert.id.encode()).hexdigest()[:40]
        domain = config.sender.rpartition("@")[2]
        # The same alert is the same message: a mail system can drop a repeat.
        message["Message-ID"] = f"<tss.{digest}@{domain}>"
        message["X-TSS-Alert-Id"] = _one_line(alert.id)
        parts = [alert.text.rstrip()]
        details = [f"{k}: {_value(v)}" for k, v in alert.details.items() if k != "link"]
        if details:
            parts.append("\n".join(details))
        link = alert.details.get("link")
        if link:
            parts.append(str(link))
        message.set_content("\n\n".join(parts) + "\n")
        return message

    async def _addresses(self) -> list[IPAddress]:
        """The server's addresses the policy allows.

        :raises DeliveryError: the name does not resolve (tried again), or no address
            is allowed (final).
        """
        host, port = self.config.host, self.config.port
        try:
            async with asyncio.timeout(self.config.timeout):
                found = await self._resolve(host, port)
            return self._policy.check(host, found)
        except AddressRefused as exc:
            raise DeliveryError(exc.message, final=True) from None
        except TimeoutError:
            raise DeliveryError(
                f"cannot resolve {host}: no answer within {self.config.timeout:g}s"
            ) from None
        except OSError as exc:
            raise DeliveryError(f"cannot resolve {host}: {_reason(exc)}") from None

    def _talk(self, addresses: Sequence[IPAddress], message: EmailMessage | None) -> None:
        """One SMTP session (on a worker thread): connect, EHLO, STARTTLS, and with a
        ``message`` log in and send it; QUIT.

        :raises DeliveryError: saying which step failed and how; final for a 5xx answer,
            a missing extension, a refused login.
        """
        config = self.config
        step = "connection"
        client: smtplib.SMTP | None = None
        try:
            if config.security == "tls":
                client = _SMTPS(addresses, config.host, config.port, config.timeout, self._ssl)
            else:
                client = _SMTP(addresses, config.host, config.port, config.timeout)
            step = "EHLO"
            client.ehlo()
            if config.security == "starttls":
                step = "STARTTLS"
                if not client.has_extn("starttls"):
                    raise DeliveryError(
                        f"{self._where} does not offer STARTTLS, which security: starttls "
                        "requires (security: tls is for port 465; none is for a local relay "
                        "only)",
                        final=True,
                    )
                client.starttls(context=self._ssl)
                step = "EHLO"
                client.ehlo()
            if message is not None:
                if config.username is not None:
                    step = "login"
                    if not client.has_extn("auth"):
                        raise DeliveryError(
                            f"{self._where} does not offer AUTH: remove username, or "
                            "check security (servers offer AUTH over TLS only)",
                            final=True,
                        )
                    client.login(config.username, self._password or "")
                step = "message"
                refused = client.send_message(message, config.sender, list(config.to))
                if refused:
                    log.warning(
                        "email channel %r: alert %s was not delivered to %s (%s)",
                        self.name,
                        message["X-TSS-Alert-Id"],
                        ", ".join(refused),
                        "; ".join(self._answer(c, m) for c, m in refused.values()),
                    )
            step = "QUIT"
            with contextlib.suppress(OSError):  # (SMTPException too) what mattered is done
                client.quit()
        except DeliveryError:
            raise
        except OSError as exc:  # smtplib's errors (OSErrors), refused, timed out, TLS
            raise self._failure(exc, step) from None
        finally:
            if client is not None:
                client.close()

    def _failure(self, exc: OSError, step: str) -> DeliveryError:
        """What went wrong in an SMTP session (during ``step``), in words: final for a 5xx
        answer and a missing extension; 4xx answers and network errors are tried again."""
        what = _STEPS[step]
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            answers = list(exc.recipients.values())
            return DeliveryError(
                f"{self._where} refused every recipient: "
                + "; ".join(self._answer(code, text) for code, text in answers[:3]),
                final=all(code >= 500 for code, _ in answers),
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            answer = self._answer(exc.smtp_code, exc.smtp_error)
            return DeliveryError(
                f"{self._where} answered {what} with {answer}", final=exc.smtp_code >= 500
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return DeliveryError(f"{self._where}: {what}: {exc}", final=True)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return DeliveryError(f"{self._where} closed the connection during {what}")
        if step == "connection" and not isinstance(exc, smtplib.SMTPException):
            return DeliveryError(f"cannot reach {self._where}: {_reason(exc)}")
        # A reset, a timeout, a failed TLS handshake (ssl.SSLError: a certificate that does
        # not match, too): tried again (the operator may fix it meanwhile).
        return DeliveryError(f"{self._where}: {what} failed: {_reason(exc)}")

    def _answer(self, code: int, text: bytes | str) -> str:
        """An SMTP answer, on one line, short, without the password."""
        said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        said = " ".join(said.split())[:200]
        if self._password:
            said = said.replace(self._password, "***")
        return f"{code} {said}".strip()


# -- HTTP: Slack and webhooks --------------------------------------------------------------


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, within 0 to an hour."""
    return retry_after(value, cap=MAX_RETRY_AFTER)


class _HttpChannel(Channel):
    """A JSON POST to a URL that is a secret, through the SSRF guard."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float = 10.0,
        policy: AddressPolicy | None = None,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self.name = name
        self._url = httpx.URL(url)
        self._timeout = timeout
        self._policy = policy or AddressPolicy(key="alerts")
        self._resolver = resolver
        self._ssl = ssl_context
        # What an error message must not show: the URL and its parts, header values...
        self._secrets = [s for s in (url, str(self._url), *secrets) if s]
        self._transport: GuardedTransport | None = None

    def _pool(self) -> GuardedTransport:
        # Made on first use, in the loop that sends (its connections belong to it).
        if self._transport is None:
            self._transport = GuardedTransport(
                self._policy, resolver=self._resolver, max_connections=4, ssl_context=self._ssl
            )
        return self._transport

    async def aclose(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.aclose()

    async def _post(self, body: bytes, headers: Mapping[str, str]) -> None:
        """POST ``body``; return on a 2xx.

        :raises DeliveryError: final for an address refused and for statuses other than
            408, 429 and 5xx; with ``retry_after`` from the answer's Retry-After.
        """
        what = f"{self.type} channel {self.name!r}"
        limits = dict.fromkeys(("connect", "read", "write", "pool"), self._timeout)
        request = httpx.Request(
            "POST", self._url, headers=headers, content=body, extensions={"timeout": limits}
        )
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._pool().handle_async_request(request)
                try:
                    answer = await self._read(response)
                finally:
                    await response.aclose()
        except AddressRefused as exc:
            raise DeliveryError(f"{what}: {self._scrub(exc.message)}", final=True) from None
        except (TimeoutError, httpx.TimeoutException):
            raise DeliveryError(f"{what}: no answer within {self._timeout:g}s") from None
        except httpx.TransportError as exc:
            reason = self._scrub(str(exc)) or type(exc).__name__
            raise DeliveryError(f"{what}: the request failed: {reason}") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        retried = status in _RETRIED or status >= 500
        wait = _retry_after(response.headers.get("retry-after")) if retried else None
        said = answer.strip()
        # Slack's error codes (no_service, invalid_token) say what is wrong; nothing else
        # of the body is quoted: it could echo the URL or a header back.
        quoted = _ERROR_CODE.fullmatch(said) and not any(said in s for s in self._secrets)
        code = f": {said}" if quoted else ""
        raise DeliveryError(
            f"{what}: answered {status} {response.reason_phrase}{code}"
            + (f" (Retry-After: {wait:g}s)" if wait is not None else ""),
            final=not retried,
            retry_after=wait,
        )

    @staticmethod
    async def _read(response: httpx.Response) -> str:
        raw, _ = await read_body(response, _MAX_BODY)
        return raw[:200].decode("utf-8", "replace")

    def _scrub(self, text: str) -> str:
        # ("1" would mangle every number; it hides nothing)
        return scrub(text, self._secrets, shortest=4)


class SlackChannel(_HttpChannel):
    """A Slack incoming webhook: ``{"text": "*subject*\\ntext\\n<link|Open in TSS>"}``."""

    type = "slack"

    @staticmethod
    def text(alert: Alert) -> str:
        """The message's text, in Slack's markup (``&``, ``<``, ``>`` escaped, so that an
        error text cannot write ``<!channel>``)."""
        lines = [f"*{_slack_escape(_one_line(alert.subject))}*", _slack_escape(alert.text)]
        link = alert.details.get("link")
        if link:
            url = str(link).replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
            lines.append(f"<{url}|Open in TSS>")
        return "\n".join(lines)

    async def send(self, alert: Alert) -> None:
        body = orjson.dumps({"text": self.text(alert)})
        headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT}
        await self._post(body, headers)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class WebhookChannel(_HttpChannel):
    """A JSON POST of the alert, signed (``X-TSS-Signature``) when there is a secret."""

    type = "webhook"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        policy: AddressPolicy | None = None,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        extra = dict(headers or {})
        hidden = [*extra.values(), *([secret] if secret else [])]
        super().__init__(
            name,
            url,
            timeout=timeout,
            policy=policy,
            resolver=resolver,
            ssl_context=ssl_context,
            secrets=hidden,
        )
        self._secret = secret
        self._headers = extra

    @staticmethod
    def body(alert: Alert) -> bytes:
        """The request's JSON body."""
        return orjson.dumps(
            {
                "id": alert.id,
                "kind": alert.kind,
                "job": alert.job,
                "run_id": alert.run_id,
                "subject": alert.subject,
                "text": alert.text,
                "details": alert.details,
                "created_at": _aware(alert.created_at).isoformat(),
            },
            default=str,
            option=orjson.OPT_NON_STR_KEYS,
        )

    async def send(self, alert: Alert) -> None:
        body = self.body(alert)
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT}
        headers |= self._headers
        headers["X-TSS-Alert-Id"] = _one_line(alert.id)
        headers["X-TSS-Timestamp"] = timestamp
        if self._secret:
            headers["X-TSS-Signature"] = signature(self._secret, timestamp, body)
        await self._post(body, headers)


# -- the log -------------------------------------------------------------------------------

_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class LogChannel(Channel):
    """A line in TSS's log (logger ``tss.alerts``): ``alert <id>: <subject>: <text>``."""

    type = "log"

    def __init__(self, name: str, level: str = "warning") -> None:
        self.name = name
        self.level = _LEVELS[level]

    async def send(self, alert: Alert) -> None:
        log.log(self.level, "alert %s: %s: %s", alert.id, alert.subject, alert.text)


# -- building them from the config -----------------------------------------------------------


def build_channels(
    config: cfg.AlertsConfig, *, resolver: Resolver | None = None
) -> dict[str, Channel]:
    """One channel per ``config.channels`` entry, by name, with secrets read. A plugin's
    class is imported from ``sys.path``, where the node has put the config's
    ``python_path`` (:func:`tss.tasks.plugins.add_python_path`).

    :raises ConfigError: a secret cannot be read, a URL is not one, a plugin class cannot
        be loaded or constructed; naming the key (``alerts.channels.ops.password``) and
        never a secret's value.
    """
    policy = _policy(config)
    channels: dict[str, Channel] = {}
    for name, spec in config.channels.items():
        key = f"alerts.channels.{name}"
        channel: Channel
        if isinstance(spec, cfg.EmailChannel):
            password = None
            if spec.password is not None:
                password = _secret(spec.password, f"{key}.password")
            channel = EmailChannel(name, spec, password=password, policy=policy, resolver=resolver)
        elif isinstance(spec, cfg.SlackChannel):
            url = _url(_secret(spec.url, f"{key}.url"), f"{key}.url")
            channel = SlackChannel(
                name, url, timeout=spec.timeout, policy=policy, resolver=resolver
            )
        elif isinstance(spec, cfg.WebhookChannel):
            url = _url(_secret(spec.url, f"{key}.url"), f"{key}.url")
            secret = None if spec.secret is None else _secret(spec.secret, f"{key}.secret")
            headers = {}
            for header, value in spec.headers.items():
                field = f"{key}.headers.{header}"
                headers[header] = _header_value(_secret(value, field), field)
            channel = WebhookChannel(
                name,
                url,
                secret=secret,
                headers=headers,
                timeout=spec.timeout,
                policy=policy,
                resolver=resolver,
            )
        elif isinstance(spec, cfg.LogChannel):
            channel = LogChannel(name, spec.level)
        else:
            channel = _plugin(name, spec, key)
        channels[name] = channel
    return channels


#: the key a channel's failed check is reported under, by type
_CHECK_KEYS = {"email": "host", "slack": "url", "webhook": "url"}


async def check_channels(channels: Mapping[str, Channel]) -> None:
    """Reach every channel's destination (all at once), as the server starts.

    :raises ConfigError: one cannot be reached, naming its key:
        ``alerts.channels.ops.host: cannot reach smtp.example.com:587: Connection refused``
        (the first failing one, in the config's order).
    """
    names = list(channels)
    outcomes = await asyncio.gather(
        *(channels[name].check() for name in names), return_exceptions=True
    )
    for name, outcome in zip(names, outcomes, strict=True):
        if isinstance(outcome, DeliveryError):
            suffix = _CHECK_KEYS.get(channels[name].type)
            key = f"alerts.channels.{name}" + (f".{suffix}" if suffix else "")
            raise ConfigError(f"{key}: {outcome}", field=key) from outcome
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def _secret(value: str | cfg.SecretRef, key: str) -> str:
    """A secret's value: as written, or read from the variable or file it names.

    :raises ConfigError: naming ``key`` and what is missing (never the value).
    """
    if isinstance(value, str):
        return value
    if value.from_env is not None:
        found = os.environ.get(value.from_env)
        if found is None:
            raise ConfigError(f"{key}: the environment has no variable {value.from_env}", field=key)
        return found
    assert value.from_file is not None  # the model insists on one of the two
    try:
        return _read_secret(value.from_file)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}", field=key) from None


def _url(value: str, key: str) -> str:
    """``value`` if it is an http(s) URL with a host (not shown if not: it is a secret)."""
    try:
        url = httpx.URL(value.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(
            f"{key}: not an http(s) address such as https://hooks.example.com/... "
            "(the value is not shown: it may be a secret)",
            field=key,
        )
    return str(url)


def _header_value(value: str, key: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise ConfigError(f"{key}: a header value may not contain a line break", field=key)
    return value


def _references(value: Any, key: str) -> Any:
    """A plugin's config with every secret reference (at any depth) read."""
    if is_reference(value):
        kind, target = next(iter(value.items()))
        return _secret(cfg.SecretRef(**{kind: target}), key)
    if isinstance(value, dict):
        return {k: _references(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_references(v, f"{key}.{i}") for i, v in enumerate(value)]
    return value


def _plugin(name: str, spec: cfg.PluginChannel, key: str) -> Channel:
    """A plugin's channel: ``cls(name, config)``, its config's secret references read."""
    field = f"{key}.class"
    try:
        found = _import(spec.class_)
    except PluginError as exc:
        raise ConfigError(f"{field} ({spec.class_}): {exc}", field=field) from exc
    if not (isinstance(found, type) and issubclass(found, Channel)):
        kind = "another class" if isinstance(found, type) else f"a {type(found).__name__}"
        raise ConfigError(
            f"{field}: {spec.class_} is not a subclass of tss.alerts.channels.Channel but {kind}",
            field=field,
        )
    if inspect.isabstract(found):
        missing = ", ".join(sorted(getattr(found, "__abstractmethods__", ())))
        raise ConfigError(f"{field}: {spec.class_} does not implement {missing}", field=field)
    config = _references(dict(spec.config), f"{key}.config")
    try:
        channel = found(name, config)  # type: ignore[call-arg]
    except TSSError as exc:  # the constructor refused its config, naming the setting
        where = f"{key}.config" + (f".{exc.field}" if exc.field else "")
        raise ConfigError(f"{where}: {exc.message}", field=where) from exc
    except Exception as exc:
        raise ConfigError(
            f"{field}: constructing {found.__name__} failed: {type(exc).__name__}: {exc}",
            field=field,
        ) from exc
    channel.name = name
    if not channel.type:
        channel.type = "plugin"
    return channel
