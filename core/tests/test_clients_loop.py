"""supercompat.clients.on_core_loop: adapters can tell supercompat's own loop from any other."""

import asyncio

from supercompat import _loop
from supercompat.clients import on_core_loop


async def _where() -> bool:
    return on_core_loop()


def test_true_on_the_core_loop_only():
    assert _loop.run_sync(_where()) is True
    assert asyncio.run(_where()) is False
    assert on_core_loop() is False  # no loop at all
