"""The ``http`` task type's rules without a network: the address policy (SSRF guard), the
params refused at the door (each naming its field), header masking, and the retry hints
a failed call gives the job's retry policy."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from tss._secrets import mask_params
from tss.config import Settings, validate_settings
from tss.core.jobspec import RetryPolicy
from tss.core.records import ErrorInfo
from tss.core.retry import decide_failure
from tss.core.states import RunState
from tss.errors import ConfigError, ValidationError
from tss.net.guard import AddressPolicy, AddressRefused, category
from tss.tasks.http import HttpTask
from tss.tasks.registry import TaskRegistry


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("198.18.0.1", "private"),
        ("fec0::1", "site-local"),
        ("::ffff:127.0.0.1", "loopback (IPv4 127.0.0.1 inside an IPv6)"),
        ("::ffff:10.0.0.1", "private (IPv4 10.0.0.1 inside an IPv6)"),
        ("2002:7f00:1::", "loopback (IPv4 127.0.0.1 inside an IPv6)"),  # 6to4
        ("64:ff9b::a9fe:a9fe", "link-local (IPv4 169.254.169.254 inside an IPv6)"),  # NAT64
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_addresses_are_judged_by_what_they_are(address: str, why: str | None) -> None:
    assert category(ipaddress.ip_address(address)) == why


def test_the_policy_refuses_names_the_key_and_lets_the_config_allow() -> None:
    a = ipaddress.ip_address
    policy = AddressPolicy()
    message = policy.refusal("db.internal", a("10.0.0.5"))
    assert message == (
        "db.internal resolves to 10.0.0.5, a private address; TSS refuses it unless the "
        'config allows it: http.allow: ["10.0.0.5/32"] or http.allow_private: true'
    )
    assert policy.refusal("example.com", a("93.184.215.14")) is None
    assert AddressPolicy(allow_private=True).refusal("db", a("10.0.0.5")) is None
    listed = AddressPolicy(allow=("10.0.0.0/8", "hooks.internal.example", "*.corp.example"))
    assert listed.refusal("x", a("10.9.9.9")) is None
    assert listed.refusal("x", a("::ffff:10.9.9.9")) is not None  # networks match as written
    assert listed.refusal("Hooks.Internal.Example.", a("192.168.0.1")) is None
    assert listed.refusal("a.b.corp.example", a("192.168.0.1")) is None
    assert listed.refusal("corp.example.evil", a("192.168.0.1")) is not None
    with pytest.raises(AddressRefused, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        policy.check("localhost", [a("127.0.0.1"), a("::1")])
    assert policy.check("mixed", [a("10.0.0.1"), a("1.1.1.1")]) == [a("1.1.1.1")]


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"])
def test_metadata_addresses_need_an_explicit_allow(address: str) -> None:
    ip = ipaddress.ip_address(address)
    refused = AddressPolicy(allow_private=True).refusal("meta", ip)
    assert refused is not None and "a cloud metadata address; only http.allow" in refused
    assert AddressPolicy(allow=(f"{ip}/{ip.max_prefixlen}",)).refusal("meta", ip) is None


def test_the_config_checks_allow_entries() -> None:
    assert Settings(http={"allow": ["127.0.0.1", "fd00::/8", "*.x.example"]}).http.allow
    with pytest.raises(ValueError, match="is neither a network"):
        Settings(http={"allow": ["not a host!"]})


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({}, "params.url", "url is required"),
        ({"url": "ftp://h/x"}, "params.url", "http:// or https://, not ftp"),
        ({"url": "file:///etc/passwd"}, "params.url", "not file"),
        ({"url": "http://u:pw@h/x"}, "params.url", "may not hold a user name or password"),
        ({"url": "http:///x"}, "params.url", "no host"),
        ({"url": "https://h", "verb": "GET"}, "params.verb", "not 'verb'"),
        ({"url": "https://h", "method": "BREW"}, "params.method", "method is one of"),
        ({"url": "https://h", "json": {}, "body": "x"}, "params.body", "not both"),
        ({"url": "https://h", "body": {"a": 1}}, "params.body", "use json"),
        ({"url": "https://h", "timeout": 0}, "params.timeout", "more than 0"),
        ({"url": "https://h", "expect": ["2xx", 700]}, "params.expect", "700 is not"),
        ({"url": "https://h", "retry_on": ["often"]}, "params.retry_on", "not a status"),
        ({"url": "https://h", "max_redirects": 99}, "params.max_redirects", "0 to 30"),
        ({"url": "https://h", "follow_redirects": "yes"}, "params.follow_redirects", "true"),
        ({"url": "https://h", "headers": ["a"]}, "params.headers", "mapping"),
        ({"url": "https://h", "headers": {"Bad Name": "x"}}, "params.headers.Bad Name", "not a"),
        ({"url": "https://h", "headers": {"Host": "x"}}, "params.headers.Host", "set by HTTP"),
        ({"url": "https://h", "headers": {"X": "a\r\nB: c"}}, "params.headers.X", "one line"),
        ({"url": "https://h", "headers": {"X": 5}}, "params.headers.X", "a header value is"),
        (
            {"url": "https://h", "headers": {"X": {"from_env": "TSS_ADMIN_TOKEN"}}},
            "params.headers.X.from_env",
            "TSS's own variables",
        ),
        (
            {"url": "https://h", "headers": {"X": {"from_file": "/proc/1/environ"}}},
            "params.headers.X.from_file",
            "under /proc",
        ),
    ],
)
def test_bad_params_are_refused_naming_the_field(
    params: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ValidationError, match=words) as caught:
        HttpTask().validate(params)
    assert caught.value.field == field


def test_good_params_are_normalised_and_the_type_is_built_in() -> None:
    checked = HttpTask().validate(
        {"url": "https://example.com/hook", "method": "post", "expect": 204, "retry_on": "5XX"}
    )
    assert (checked["method"], checked["expect"], checked["retry_on"]) == ("POST", [204], ["5xx"])
    assert "http" in TaskRegistry.default(installed=False).names()
    assert {"url", "method", "headers"} <= HttpTask.executes


def test_header_values_and_url_credentials_are_masked_below_admin() -> None:
    params = {
        "url": "https://hooks.example/x?token=abc&q=1",
        "headers": {"Authorization": "Bearer abc", "X-Ref": {"from_env": "HOOK"}},
    }
    masked = mask_params(params, reveal=False)
    assert masked["headers"] == {"Authorization": "***", "X-Ref": {"from_env": "HOOK"}}
    assert masked["url"] == "https://hooks.example/x?token=***&q=1"
    assert mask_params(params, reveal=True) is params
    assert params["headers"]["Authorization"] == "Bearer abc"  # not changed in place


def test_a_final_error_spends_no_retry_and_retry_after_stretches_the_delay() -> None:
    policy = RetryPolicy(max=3, delay=1, backoff="fixed", max_delay=60)
    status = ErrorInfo("HttpStatus", "answered 404")
    final = decide_failure(policy, 1, status, final=True)
    assert final.target is RunState.FAILED and "HttpStatus is final" in final.reason
    named = RetryPolicy(max=3, retry_on=["HttpStatus"])
    assert decide_failure(named, 1, status, final=True).target is RunState.RETRYING
    waited = decide_failure(policy, 1, ErrorInfo("HttpStatus", "429"), retry_after=30)
    assert waited.delay == 30 and "retrying in 30.0s (as the task asked)" in waited.reason
    capped = decide_failure(policy, 1, ErrorInfo("HttpStatus", "429"), retry_after=999)
    assert capped.delay == 60  # max_delay bounds what a server may ask
    assert decide_failure(policy, 1, status, retry_after=0.5).delay == 1  # backoff wins


def test_an_invalid_http_section_names_its_key() -> None:
    with pytest.raises(ConfigError, match=r"http\.max_connections"):
        validate_settings(Settings, {"http": {"max_connections": 0}})


def test_config_show_masks_http_job_headers() -> None:
    from tss.cli.output import mask_secrets

    jobs = [{"name": "h", "type": "http", "params": {"url": "https://u:pw@h/x", "headers": {
        "Authorization": "Bearer abc", "X-Ref": {"from_file": "/run/secrets/k"}}}}]  # fmt: skip
    (shown,) = mask_secrets({"jobs": jobs})["jobs"]
    assert shown["params"]["headers"] == {
        "Authorization": "***",
        "X-Ref": {"from_file": "/run/secrets/k"},
    }
    assert shown["params"]["url"] == "https://u:***@h/x"
