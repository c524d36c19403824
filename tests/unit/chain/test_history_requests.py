"""Historical reads are split into HTTP requests by count and by size."""

from __future__ import annotations

from tidewatch.chain import abi
from tidewatch.chain.history import MAX_REQUEST_BYTES, _requests
from tidewatch.chain.multicall import Call


def test_requests_stay_under_the_batch_size_and_the_body_limit() -> None:
    # Given 10 small jobs and 3 jobs of 0.4 MB of calldata each
    small = [Call("0x" + "11" * 20, abi.COMET_GET_UTILIZATION)]
    big = [Call("0x" + "22" * 20, abi.COMET_GET_UTILIZATION)]
    jobs = [(n, small) for n in range(10)] + [(n, big) for n in range(10, 13)]
    encoded = {id(small): "0x" + "00" * 100, id(big): "0x" + "00" * (MAX_REQUEST_BYTES // 5)}
    # When split with at most 4 jobs a request
    parts = _requests(jobs, encoded, batch_size=4)
    # Then every job is sent once, in order, 4 at most a request and 1 MB of calldata at most
    assert [j for part in parts for j in part] == jobs
    assert all(len(part) <= 4 for part in parts)
    assert all(sum(len(encoded[id(c)]) for _, c in part) <= MAX_REQUEST_BYTES for part in parts)
    assert [len(p) for p in parts] == [4, 4, 4, 1]


def test_a_job_larger_than_the_limit_still_goes_alone() -> None:
    huge = [Call("0x" + "33" * 20, abi.COMET_GET_UTILIZATION)]
    encoded = {id(huge): "0x" + "00" * MAX_REQUEST_BYTES}
    assert _requests([(1, huge), (2, huge)], encoded, batch_size=50) == [[(1, huge)], [(2, huge)]]
