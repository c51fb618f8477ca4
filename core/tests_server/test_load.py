"""A bounded run of bench/server_load.py: `supercompat serve` in its own process, hundreds of mixed
requests, tens at a time, with no errors and nothing lost (the benchmark checks every thread)."""

from __future__ import annotations

import asyncio
import importlib.util
import pathlib

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench" / "server_load.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("server_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mixed_load_loses_nothing():
    bench = load_bench()
    with bench.running_server() as (base_url, server_log, _):
        result = asyncio.run(bench.drive(base_url, requests=600, concurrency=20))
    assert result["requests"] >= 500 and result["runs"] >= 150
    assert not any("Traceback" in line or "ERROR" in line for line in server_log), "".join(server_log)


def test_two_workers_over_one_sqlite_database_lose_nothing(tmp_path):
    """Requests land on either worker: what one creates, streams or polls, the other reads."""
    pytest.importorskip("supercompat_sqlalchemy")
    bench = load_bench()
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with bench.running_server(storage_url=url, workers=2) as (base_url, server_log, _):
        result = asyncio.run(bench.drive(base_url, requests=300, concurrency=10))
    assert result["requests"] >= 250 and result["runs"] >= 60
    assert not any("Traceback" in line or "ERROR" in line for line in server_log), "".join(server_log)
