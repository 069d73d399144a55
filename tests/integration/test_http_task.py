"""The ``http`` task type against a real HTTP receiver on loopback: results, statuses,
timeouts, redirects, and the SSRF guard deciding at connect time (with the real connect
path; only the resolver is swapped, in the DNS-rebinding test)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.servers import run
from tss.config.http import HttpConfig
from tss.errors import TaskFailure
from tss.net.guard import IPAddress, Resolver
from tss.tasks.base import ExecutionContext, TaskContext
from tss.tasks.http import HttpTask
from tss.tasks.output import LogBuffer

from .receiver import Receiver, receiving

LOOPBACK = HttpConfig(allow=["127.0.0.1/32"])


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiving("127.0.0.1") as receiver:
        yield receiver


@pytest.fixture
def other(hook: Receiver) -> Iterator[Receiver]:
    """A second receiver, on 127.0.0.2 (Linux routes all of 127/8 to lo) and the first
    one's port: which of the two a connection reached tells which address it went to."""
    with receiving("127.0.0.2", hook.port) as receiver:
        yield receiver


def call(
    params: dict[str, Any],
    config: HttpConfig = LOOPBACK,
    *,
    timeout: float | None = None,
    resolver: Resolver | None = None,
) -> tuple[Any, str]:
    """Validate and execute ``params`` once, as a worker would: the result (or the raised
    exception) and the run's stdout."""
    task = HttpTask(config, resolver=resolver)
    checked = task.validate(params)
    stdout = LogBuffer()
    ctx = ExecutionContext(
        TaskContext("run-1", 1, "hook", None, checked),
        checked,
        timeout,
        "auto",
        stdout,
        LogBuffer(),
    )

    async def body() -> Any:
        try:
            return await task.execute(ctx)
        except (TaskFailure, TimeoutError) as exc:
            return exc
        finally:
            await task.aclose()

    return run(body()), stdout.getvalue()


def failure(params: dict[str, Any], config: HttpConfig = LOOPBACK, **kw: Any) -> TaskFailure:
    outcome, _ = call(params, config, **kw)
    assert isinstance(outcome, TaskFailure), outcome
    return outcome


def test_a_json_post_is_sent_and_the_json_answer_is_the_result(hook: Receiver) -> None:
    result, stdout = call({"url": hook.url("/json"), "json": {"event": "done", "n": 3}})
    assert result["status"] == 200 and result["reason"] == "OK" and not result["truncated"]
    assert result["body"]["method"] == "POST"  # json without a method: POST
    assert orjson.loads(result["body"]["body"]) == {"event": "done", "n": 3}
    assert result["headers"]["content-type"] == "application/json"
    assert hook.seen[0].headers["Content-Type"] == "application/json"
    assert hook.seen[0].headers["User-Agent"].startswith("tss/")
    assert stdout.startswith(f"POST {hook.url('/json')} -> 200 OK (")


def test_a_text_answer_is_kept_as_text_and_cut_at_max_response(hook: Receiver) -> None:
    result, stdout = call({"url": hook.url("/big/100")}, HttpConfig(allow=["127.0.0.1"]))
    assert result["body"] == "x" * 100 and result["truncated"] is False
    config = HttpConfig(allow=["127.0.0.1"], max_response=10)
    result, stdout = call({"url": hook.url("/big/5000"), "method": "get"}, config)
    assert result["body"] == "x" * 10 and result["truncated"] is True
    assert "truncated" in stdout


def test_an_unexpected_status_fails_with_the_status_and_the_body_in_words(hook: Receiver) -> None:
    lost = failure({"url": hook.url("/status/404"), "method": "DELETE"})
    assert lost.error_type == "HttpStatus" and lost.final  # a 404 stays a 404: no retry
    assert str(lost) == (
        f"DELETE {hook.url('/status/404')} answered 404 Not Found: "
        "status 404 from the receiver second line"
    )
    busy = failure({"url": hook.url("/status/503")})
    assert not busy.final and busy.retry_after is None
    assert "answered 503 Service Unavailable: status 503" in str(busy)
    # expect and retry_on take codes and classes
    assert call({"url": hook.url("/status/404"), "expect": [404]})[0]["status"] == 404
    assert call({"url": hook.url("/status/201"), "expect": "2xx"})[0]["status"] == 201
    assert not failure({"url": hook.url("/status/409"), "retry_on": ["4xx"]}).final
    assert failure({"url": hook.url("/status/503"), "retry_on": []}).final


def test_a_429_carries_its_retry_after(hook: Receiver) -> None:
    slow = failure({"url": hook.url("/status/429?retry_after=7")})
    assert (slow.final, slow.retry_after) == (False, 7.0)
    assert "answered 429 Too Many Requests (Retry-After: 7s)" in str(slow)
    date = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: no wait beyond the policy's
    assert failure({"url": hook.url(f"/status/503?retry_after={date}")}).retry_after == 0.0


def test_a_slow_answer_fails_at_the_request_timeout_and_the_job_timeout_stays_its_own(
    hook: Receiver,
) -> None:
    late = failure({"url": hook.url("/slow/2"), "timeout": 0.3})
    assert late.error_type == "HttpTimeout" and not late.final
    assert str(late) == f"GET {hook.url('/slow/2')} did not answer within 0.3s"
    # The job's timeout: TimeoutError, which the worker records as timed_out.
    outcome, _ = call({"url": hook.url("/slow/2"), "timeout": 10}, timeout=0.3)
    assert isinstance(outcome, TimeoutError) and not isinstance(outcome, TaskFailure)


def test_a_redirect_chain_is_followed_hop_by_hop_within_max_redirects(hook: Receiver) -> None:
    result, stdout = call({"url": hook.url("/redirect/3")})
    assert result["status"] == 200 and result["url"] == hook.url("/json")
    hops = ["/redirect/3", "/redirect/2", "/redirect/1", "/redirect/0", "/json"]
    assert [s.path for s in hook.seen] == hops
    assert stdout.count("redirected to") == 4
    too_many = failure({"url": hook.url("/redirect/3"), "max_redirects": 2})
    assert too_many.error_type == "HttpTooManyRedirects" and too_many.final
    unfollowed = failure({"url": hook.url("/redirect/1"), "follow_redirects": False})
    assert "answered 302 Found" in str(unfollowed)
    kept = call({"url": hook.url("/redirect/1"), "follow_redirects": False, "expect": [302]})
    assert kept[0]["headers"]["location"] == "/redirect/0"


def test_a_303_turns_a_post_into_a_get_and_credentials_stay_on_their_host(
    hook: Receiver, other: Receiver
) -> None:
    config = HttpConfig(allow=["127.0.0.1/32", "127.0.0.2/32"])
    target = other.url("/json")
    params = {
        "url": hook.url(f"/to?code=303&url={target}"),
        "json": {"a": 1},
        "headers": {"Authorization": "Bearer literal-token"},
    }
    result, _ = call(params, config)
    assert result["body"]["method"] == "GET" and result["body"]["body"] == ""
    assert hook.seen[0].headers["Authorization"] == "Bearer literal-token"
    assert "Authorization" not in other.seen[0].headers  # another origin: headers dropped


def test_a_redirect_to_an_address_not_allowed_is_refused_before_connecting(
    hook: Receiver, other: Receiver
) -> None:
    params = {"url": hook.url(f"/to?url={other.url('/json')}")}
    refused = failure(params)
    assert refused.error_type == "AddressRefused" and refused.final
    assert "127.0.0.2 is a loopback address" in str(refused)
    assert 'http.allow: ["127.0.0.2/32"] or http.allow_private: true' in str(refused)
    assert [s.path for s in hook.seen] == [hook.seen[0].path] and other.seen == []
    # The same redirect with 127.0.0.2 allowed reaches it: the refusal was the guard's.
    result, _ = call(params, HttpConfig(allow=["127.0.0.0/30"]))
    assert result["status"] == 200 and len(other.seen) == 1


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]"]
)
def test_every_spelling_of_loopback_is_refused_by_default(hook: Receiver, host: str) -> None:
    refused = failure({"url": hook.url("/json", host=host)}, HttpConfig())
    assert refused.error_type == "AddressRefused" and "loopback" in str(refused)
    assert "http.allow_private: true" in str(refused)
    assert hook.seen == []


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0x7f.1", "127.1"])
def test_the_resolver_turns_each_spelling_into_the_address_that_is_allowed(
    hook: Receiver, host: str
) -> None:
    """Decided on the address, never on the text: 127.0.0.1/32 allows all of them."""
    result, _ = call({"url": hook.url("/json", host=host)})
    assert result["status"] == 200


def test_allow_private_and_an_allowed_name(hook: Receiver) -> None:
    assert call({"url": hook.url("/json")}, HttpConfig(allow_private=True))[0]["status"] == 200
    named = HttpConfig(allow=["LOCALHOST."])
    assert call({"url": hook.url("/json", host="localhost")}, named)[0]["status"] == 200
    assert failure({"url": hook.url("/json")}, named).error_type == "AddressRefused"


def test_the_connection_goes_to_the_address_that_was_checked(
    hook: Receiver, other: Receiver
) -> None:
    """DNS rebinding: a name that answers an allowed address to the check and another one
    after. ``rebind.test`` exists only in this resolver, so a request that reaches the
    receiver went to the address the guard checked, without a second lookup."""
    answers: list[list[IPAddress]] = [[ipaddress.ip_address("127.0.0.1")]]
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> list[IPAddress]:
        asked.append(host)
        return answers.pop(0) if answers else [ipaddress.ip_address("127.0.0.2")]

    url = f"http://rebind.test:{hook.port}/json"
    result, _ = call({"url": url}, resolver=rebinding)
    assert result["status"] == 200 and asked == ["rebind.test"]
    assert hook.seen[0].headers["Host"] == f"rebind.test:{hook.port}"
    # The next answer is 127.0.0.2, not allowed: refused, and nothing reached it.
    refused = failure({"url": url}, resolver=rebinding)
    assert "rebind.test resolves to 127.0.0.2, a loopback address" in str(refused)
    assert other.seen == [] and len(hook.seen) == 1

    async def mixed(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("127.0.0.2"), ipaddress.ip_address("127.0.0.1")]

    # Of several answers, only an allowed one is used.
    assert call({"url": url}, resolver=mixed)[0]["status"] == 200 and other.seen == []


def test_header_secrets_by_reference_are_sent_and_never_shown(
    hook: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret-from-env")
    (tmp_path / "key").write_text("s3cret-from-file\n")
    params = {
        "url": hook.url("/json?token=query-secret&page=2"),
        "headers": {
            "Authorization": {"from_env": "HOOK_TOKEN"},
            "X-Signature": {"from_file": str(tmp_path / "key")},
            "X-Api-Key": "literal-key-value",
            "Accept": "application/json",
        },
    }
    result, stdout = call(params)
    sent = hook.seen[0].headers
    assert sent["Authorization"] == "s3cret-from-env" and sent["X-Signature"] == "s3cret-from-file"
    assert sent["X-Api-Key"] == "literal-key-value" and sent["Accept"] == "application/json"
    # The receiver echoed them back: the result and the log show none of them.
    shown = orjson.dumps(result).decode() + stdout
    for secret in ("s3cret-from-env", "s3cret-from-file", "literal-key-value", "query-secret"):
        assert secret not in shown, secret
    assert result["body"]["headers"]["Authorization"] == "***"
    assert result["body"]["headers"]["Accept"] == "application/json"
    assert "token=***&page=2" in stdout


def test_a_missing_reference_fails_naming_the_header_and_a_query_secret_is_masked(
    hook: Receiver,
) -> None:
    missing = failure({"url": hook.url("/json"), "headers": {"X-Key": {"from_env": "NOPE_X"}}})
    assert missing.error_type == "SecretReferenceError"
    assert str(missing) == "params.headers.X-Key: the worker has no variable NOPE_X"
    assert hook.seen == []
    lost = failure({"url": hook.url("/status/404?api_key=abc123&x=1")})
    assert "api_key=***&x=1 answered 404" in str(lost) and "abc123" not in str(lost)
