"""Ingestion for vector stores: a file's text (:func:`extract`) cut into token chunks (:func:`chunk`),
as OpenAI's file_search does. See docs/vector-stores.md."""

from .chunking import (
    AUTO_CHUNK_OVERLAP_TOKENS,
    AUTO_MAX_CHUNK_SIZE_TOKENS,
    MAX_CHUNK_SIZE_TOKENS,
    MIN_CHUNK_SIZE_TOKENS,
    Chunk,
    chunk,
    count_tokens,
    cut_to_tokens,
    tokenize,
)
from .extraction import DOCUMENTS_EXTRA, SUPPORTED_EXTENSIONS, IngestError, extract, extract_file

__all__ = ["AUTO_CHUNK_OVERLAP_TOKENS", "AUTO_MAX_CHUNK_SIZE_TOKENS", "DOCUMENTS_EXTRA", "MAX_CHUNK_SIZE_TOKENS",
           "MIN_CHUNK_SIZE_TOKENS", "SUPPORTED_EXTENSIONS", "Chunk", "IngestError", "chunk", "count_tokens",
           "cut_to_tokens", "extract", "extract_file", "tokenize"]
