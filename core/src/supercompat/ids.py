"""OpenAI-style object ids that also sort in creation order.

An id is ``<prefix>_`` + 24 base62 characters: 8 for the millisecond clock, 4 for a per-process
counter (so ids made in the same millisecond keep their order) and 12 random ones. Because ids sort
by creation, a list cursor is a plain comparison: an index seek in SQL, a bisect in memory, and a
cursor whose object was deleted meanwhile still pages correctly. The alphabet is in ASCII order, so
storage must compare ids bytewise (binary collation).
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_lock = threading.Lock()
_last_ms = 0
_counter = 0


def _base62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def _ordered_part() -> str:
    global _last_ms, _counter
    now = int(time.time() * 1000)
    with _lock:
        if now > _last_ms:
            _last_ms, _counter = now, 0
        else:  # same millisecond, or the clock stepped back: keep counting from the last one
            _counter += 1
            if _counter >= 62**4:
                _last_ms, _counter = _last_ms + 1, 0
        return _base62(_last_ms, 8) + _base62(_counter, 4)


def random_base62(length: int) -> str:
    return _base62(int.from_bytes(os.urandom(length), "big"), length)


def new_id(prefix: str) -> str:
    """``new_id("asst")`` -> ``"asst_<24 chars>"``, greater than every id made before it here."""
    return f"{prefix}_{_ordered_part()}{random_base62(12)}"


def instant(object_id: str) -> str:
    """The part of an id after its kind's prefix: it sorts in creation order across kinds."""
    return object_id.split("_", 1)[1]


def with_prefix(prefix: str, other_id: str) -> str:
    """An id of kind ``prefix`` at the same instant as ``other_id``: a cursor across kinds."""
    return f"{prefix}_{instant(other_id)}"
