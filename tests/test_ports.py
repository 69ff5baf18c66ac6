"""The test harness's loopback ports: disjoint per xdist worker, below the ephemeral range."""

from __future__ import annotations

import socket

import pytest

from tests.ports import MIN_BLOCK, PortBlock, bindable, worker_block


def test_workers_get_disjoint_blocks_that_cover_the_pool() -> None:
    blocks = [worker_block(f"gw{n}", 6, 10_000, 32_768) for n in range(6)]
    ports = [port for block in blocks for port in block]
    assert len(ports) == len(set(ports))
    assert min(ports) >= 10_000 and max(ports) < 32_768
    assert all(len(block) == len(blocks[0]) for block in blocks)


def test_a_run_without_xdist_has_the_whole_pool() -> None:
    assert worker_block("", 1, 10_000, 32_768) == range(10_000, 32_768)


def test_too_many_workers_for_the_pool_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        worker_block("gw0", 1000, 10_000, 10_000 + 999 * MIN_BLOCK)


def test_a_block_hands_out_each_port_once_per_round_and_skips_taken_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken = {10_002}
    monkeypatch.setattr("tests.ports.bindable", lambda port: port not in taken)
    ports = PortBlock(range(10_000, 10_005), start=3)
    assert [ports.take() for _ in range(6)] == [10_003, 10_004, 10_000, 10_001, 10_003, 10_004]
    taken.update(range(10_000, 10_005))
    with pytest.raises(RuntimeError, match="no free port"):
        ports.take()


def test_a_listening_port_is_not_bindable() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        assert not bindable(held.getsockname()[1])
