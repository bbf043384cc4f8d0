"""skytext.core.retry: what is retried, how long it waits, and what is raised at the end."""

import pytest
import requests

from skytext.sources.download import FetchError
from skytext.sources.download import classify as classify_download
from skytext.core.retry import Failure, RetryPolicy, call_with_retries, retry_after_s


class Boom(Exception):
    def __init__(self, n: int, retryable: bool = True, retry_after: float | None = None):
        super().__init__(f"boom {n}")
        self.n, self.retryable, self.retry_after = n, retryable, retry_after


def classify(exc: BaseException) -> Failure:
    return Failure(f"boom_{exc.n}", str(exc), exc.retryable, exc.retry_after)


class Flaky:
    """Fails with Boom(1), Boom(2), ... (``retryable`` per attempt), then returns 'ok'."""

    def __init__(self, fails: int, retryable=lambda n: True, retry_after: float | None = None):
        self.fails, self.retryable, self.retry_after, self.calls = fails, retryable, retry_after, 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.fails:
            raise Boom(self.calls, self.retryable(self.calls), self.retry_after)
        return "ok"


def run(fn, policy=RetryPolicy(retries=3, backoff_s=0.5, backoff_max_s=2.0)):
    waits, failures, retries = [], [], []
    try:
        return call_with_retries(fn, classify, policy, "test", sleep=waits.append, on_failure=failures.append,
                                 on_retry=lambda err, wait: retries.append(wait)), waits, failures, retries
    except Failure as err:
        return err, waits, failures, retries


def test_retryable_failures_are_retried_until_success():
    fn = Flaky(fails=3)
    got, waits, failures, retries = run(fn)
    assert got == "ok" and fn.calls == 4
    assert len(waits) == 3 and waits == retries and [f.reason for f in failures] == ["boom_1", "boom_2", "boom_3"]
    assert all(0 <= w <= min(2.0, 0.5 * 2**k) for k, w in enumerate(waits))


def test_gives_up_after_the_retries_with_the_last_error():
    fn = Flaky(fails=10)
    err, waits, _, _ = run(fn)
    assert isinstance(err, Failure) and err.reason == "boom_4" and fn.calls == 4 and len(waits) == 3
    assert isinstance(err.__cause__, Boom) and err.__cause__.n == 4


def test_a_failure_that_is_not_retryable_is_raised_at_once():
    fn = Flaky(fails=10, retryable=lambda n: n < 2)
    err, waits, failures, _ = run(fn)
    assert err.reason == "boom_2" and fn.calls == 2 and len(waits) == 1 and len(failures) == 2


def test_the_servers_retry_after_is_honoured_and_capped():
    _, waits, _, _ = run(Flaky(fails=2, retry_after=7.5))
    assert waits == [7.5, 7.5]
    _, waits, _, _ = run(Flaky(fails=1, retry_after=1000), RetryPolicy(retries=1, backoff_s=1.0, backoff_max_s=60.0, retry_after_max_s=30))
    assert waits == [30]


def test_backoff_is_jittered_and_capped():
    p = RetryPolicy(retries=5, backoff_s=1.0, backoff_max_s=4.0)
    first, late = [p.delay(0) for _ in range(300)], [p.delay(10) for _ in range(300)]
    assert all(0 <= d <= 1.0 for d in first) and all(0 <= d <= 4.0 for d in late)
    assert max(late) > 2.0 and len(set(late)) > 250  # spread over [0, cap], not a fixed wait


def test_zero_retries_means_one_attempt():
    fn = Flaky(fails=1)
    err, waits, _, _ = run(fn, RetryPolicy(retries=0, backoff_s=1.0, backoff_max_s=60.0))
    assert err.reason == "boom_1" and fn.calls == 1 and waits == []


def test_retry_after_headers_are_read_in_all_three_forms():
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after": "3"}) == 3.0
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert retry_after_s({}) is None and retry_after_s({"retry-after": "soon"}) is None


def test_policy_fields_are_keyword_only():
    with pytest.raises(TypeError):
        RetryPolicy(3, 1.0)  # positional arguments once silently meant (timeout, retries) in one module


def _http_error(code: int, headers: dict) -> requests.HTTPError:
    resp = requests.Response()
    resp.status_code, resp.url = code, "http://127.0.0.1/x"
    resp.headers.update(headers)
    return requests.HTTPError(f"{code} Error", response=resp)


def test_downloads_classify_status_codes_and_read_retry_after():
    busy = classify_download(_http_error(503, {"Retry-After": "2"}))
    assert isinstance(busy, FetchError) and busy.retryable and busy.retry_after == 2.0 and busy.reason == "http_503"
    gone = classify_download(_http_error(404, {}))
    assert not gone.retryable and gone.retry_after is None


def test_download_policy_from_config_caps_the_servers_wait_at_the_backoff_cap():
    from skytext.sources.download import DownloadPolicy

    p = DownloadPolicy.from_config({"timeout_s": 5, "retries": 2, "backoff_s": 0.5, "backoff_max_s": 8})
    assert (p.timeout_s, p.retries, p.backoff_s) == (5.0, 2, 0.5)
    assert p.delay(0, retry_after=30) == 8 and p.delay(0, retry_after=3) == 3
