"""What the local embedder does beyond the kit: configuration, what each model sees of a long text,
vectors the same in every process, and inference off the event loop."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from supercompat.app import App
from supercompat.config import load_adapters
from supercompat.errors import ConfigError
from supercompat_local import LocalEmbedder, local_embedder
from supercompat_local.embedder import MINILM_MAX_TOKENS

SENTENCE = "Vector stores cut files into chunks and search them by keyword and by meaning. "


def test_configured_by_name_with_its_options(tmp_path) -> None:
    config = tmp_path / "supercompat.toml"
    config.write_text('[embedder]\nplugin = "local"\n')
    embedder = load_adapters(config)["embedder"]
    assert isinstance(embedder, LocalEmbedder)
    assert (embedder.model, embedder.dimensions) == ("all-MiniLM-L6-v2-int8", 384)  # the default
    config.write_text('[embedder]\nplugin = "local"\nmodel = "wordllama"\n')
    embedder = load_adapters(config)["embedder"]
    assert (embedder.model, embedder.dimensions) == ("wordllama-l2-supercat-256", 256)
    asyncio.run(App(embedder=embedder).aclose())
    config.write_text('[embedder]\nplugin = "local"\nmodel = "bert-large"\n')
    with pytest.raises(ConfigError, match="Invalid option 'model'"):
        load_adapters(config)
    config.write_text('[embedder]\nplugin = "local"\nthreads = 0\n')
    with pytest.raises(ConfigError, match="Invalid option 'threads'"):
        load_adapters(config)
    config.write_text('[embedder]\nplugin = "local"\nbatch_size = 8\n')
    with pytest.raises(ConfigError, match="Unknown option 'batch_size'"):
        load_adapters(config)


def test_an_unknown_model_in_code_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="model must be one of"):
        local_embedder("bert-large")


async def test_minilm_sees_the_first_256_word_pieces_of_a_text(minilm) -> None:
    head = SENTENCE * 30  # about 450 word pieces: past the model's window
    tail = "Completely different words about baking bread and growing tomatoes. " * 50
    short, long, with_tail = await minilm.embed([SENTENCE, head, head + tail])
    assert np.allclose(long, with_tail, atol=1e-6)  # what follows the window is not seen
    assert not np.allclose(short, long, atol=1e-3)
    assert MINILM_MAX_TOKENS == 256


async def test_wordllama_sees_the_whole_of_a_text(wordllama) -> None:
    long, longer, with_tail = await wordllama.embed(
        [SENTENCE * 2000, SENTENCE * 4000, SENTENCE * 2000 + "Baking bread and growing tomatoes. " * 2000])
    assert np.dot(long, longer) > 0.99999  # the mean of its tokens: the same words, the same mean
    assert np.dot(long, with_tail) < 0.95  # a tail far past any window changes it


@pytest.mark.parametrize("model", ["minilm", "wordllama"])
def test_vectors_are_the_same_in_a_fresh_process(model, request) -> None:
    embedder = request.getfixturevalue(model)
    texts = [SENTENCE, "日本語のテキスト", "x"]
    expected = asyncio.run(embedder.embed(texts))
    code = ("import asyncio, json; from supercompat_local import local_embedder; "
            f"print(json.dumps(asyncio.run(local_embedder({model!r}, threads=1, batch_tokens=256)"
            f".embed({texts!r}))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert np.allclose(json.loads(result.stdout), expected, atol=1e-6)


@pytest.mark.parametrize("model", ["minilm", "wordllama"])
async def test_vectors_are_unit_length(model, request) -> None:
    vectors = await request.getfixturevalue(model).embed([SENTENCE, "x", "🚀"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


async def test_inference_runs_off_the_event_loop(minilm, monkeypatch) -> None:
    threads = []
    model = minilm._model
    original = model.embed

    def recording(texts):
        threads.append(threading.get_ident())
        return original(texts)

    monkeypatch.setattr(model, "embed", recording)
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await minilm.embed([SENTENCE * 20] * 16)
    ticker.cancel()
    assert threads and threading.get_ident() not in threads
    assert ticks > 0  # the loop went on meanwhile


async def test_a_call_larger_than_a_batch_is_cut_and_kept_in_order(monkeypatch) -> None:
    small_batches = local_embedder("minilm", batch_tokens=256)
    texts = [f"{SENTENCE} number {i} " * (1 + i % 4) for i in range(10)]  # 20 to 70 word pieces
    one_by_one = [(await small_batches.embed([text]))[0] for text in texts]
    session = small_batches._model._session
    widths = []

    class Recording:
        def run(self, names, feed):
            widths.append(feed["input_ids"].shape)
            return session.run(names, feed)

    monkeypatch.setattr(small_batches._model, "_session", Recording())
    assert np.allclose(await small_batches.embed(texts), one_by_one, atol=1e-6)
    assert len(widths) > 1 and all(rows * width <= 256 for rows, width in widths)


def test_batches_stay_within_their_budget() -> None:
    from supercompat_local.embedder import _batches

    lengths = [10, 10, 10, 100, 300, 50]
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    assert _batches(order, lengths, 256) == [[0, 1, 2, 5], [3], [4]]  # 300 alone, over the budget
