"""Core's hashing embedder passes the EmbedderTests kit; ``[embedder]`` in the configuration, the
register_embedders hook, and what an App does with its embedder."""

import asyncio
import re

import pytest

from supercompat import plugins, supercompat
from supercompat.app import App
from supercompat.cli import main
from supercompat.config import load_adapters
from supercompat.embedders import (
    HashingEmbedder,
    batched,
    checked_vectors,
    cosine,
    hashing_embedder,
    normalised,
)
from supercompat.errors import BadGateway, ConfigError
from supercompat.ingest import count_tokens, cut_to_tokens
from supercompat.testing import EmbedderTests, app_of
from supercompat.testing.embedders import fake_embedder


class TestHashingEmbedder(EmbedderTests):
    paraphrases_are_close = False  # words alone: a paraphrase in other words shares none

    @pytest.fixture
    async def embedder(self):
        embedder = hashing_embedder()
        yield embedder
        await embedder.close()


class TestSmallHashingEmbedder(EmbedderTests):
    paraphrases_are_close = False

    @pytest.fixture
    async def embedder(self):
        return hashing_embedder(dimensions=32)


def test_hashing_vectors_are_unit_length_and_the_same_in_every_process():
    import subprocess
    import sys

    vector = asyncio.run(hashing_embedder(64).embed(["Hash seeds differ between processes."]))[0]
    assert abs(sum(x * x for x in vector) - 1.0) < 1e-9
    code = ("import asyncio; from supercompat.embedders import hashing_embedder; "
            "print(asyncio.run(hashing_embedder(64).embed(['Hash seeds differ between processes.']))[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345"}).stdout
    assert [float(x) for x in out.strip()[1:-1].split(",")] == pytest.approx(vector)


def test_hashing_gives_a_text_without_words_a_zero_vector():
    assert asyncio.run(hashing_embedder(16).embed(["", " \n\t", "!?"])) == [[0.0] * 16] * 3


def test_the_fake_embedder_ranks_texts_that_share_words_first():
    embedder = fake_embedder()
    texts = ["vector store search", "search a vector store", "bake bread"]
    query, near, far = asyncio.run(embedder.embed(texts))
    assert cosine(query, near) > 0.5 > cosine(query, far)
    assert isinstance(embedder, HashingEmbedder) and embedder.dimensions == 256


def test_register_embedders_through_entry_point(tmp_path):
    spec = plugins.get_adapter_spec("embedder", "fixture-embedder")
    assert spec.plugin == "supercompat-fixture"
    assert plugins.get_adapter_spec("embedder", "hashing").plugin == "supercompat"
    config = tmp_path / "supercompat.toml"
    config.write_text('[embedder]\nplugin = "fixture-embedder"\ndimensions = 24\n')
    adapters = load_adapters(config)
    embedder = adapters["embedder"]
    assert embedder.options.dimensions == 24 and embedder.dimensions == 24
    app = App(**adapters)
    assert app.embedder is embedder
    asyncio.run(app.aclose())
    assert embedder.closed  # the App closes its embedder
    config.write_text('[embedder]\nplugin = "fixture-embedder"\ndimension = 24\n')
    with pytest.raises(ConfigError, match="Unknown option 'dimension'"):
        load_adapters(config)
    config.write_text('[embedder]\nplugin = "nowhere"\n')
    with pytest.raises(ConfigError, match="Unknown embedder adapter 'nowhere'"):
        load_adapters(config)
    config.write_text("")
    assert load_adapters(config)["embedder"] is None
    assert App().embedder is None  # none by default


def test_hashing_is_configured_by_name_with_its_dimensions(tmp_path):
    config = tmp_path / "supercompat.toml"
    config.write_text('[embedder]\nplugin = "hashing"\ndimensions = 64\n')
    embedder = load_adapters(config)["embedder"]
    assert isinstance(embedder, HashingEmbedder) and embedder.dimensions == 64
    config.write_text('[embedder]\nplugin = "hashing"\ndimensions = 4\n')
    with pytest.raises(ConfigError, match="Invalid option 'dimensions'"):
        load_adapters(config)


def test_supercompat_takes_an_embedder():
    embedder = hashing_embedder()
    assert app_of(supercompat(embedder=embedder)).embedder is embedder
    assert app_of(supercompat()).embedder is None


def test_check_reports_the_embedder(tmp_path, capsys):
    config = tmp_path / "supercompat.toml"
    config.write_text('[client]\nplugin = "scripted"\n')
    main(["check", "--config", str(config)])  # 2 where the server's extra is missing: not what is tested
    assert "[embedder] ok       none named: embeddings requests are refused and search is keyword-only" in (
        capsys.readouterr().out)
    config.write_text('[client]\nplugin = "scripted"\n[embedder]\nplugin = "hashing"\n')
    main(["check", "--config", str(config)])
    out = capsys.readouterr().out
    assert "[embedder] ok       hashing (supercompat" in out and "[client]  ok       scripted" in out
    config.write_text('[client]\nplugin = "scripted"\n[embedder]\nplugin = "nowhere"\n')
    assert main(["check", "--config", str(config)]) == 2
    assert "[embedder] PROBLEM  Unknown embedder adapter 'nowhere'" in capsys.readouterr().out


async def test_hashing_a_large_call_leaves_the_loop_to_other_requests():
    import threading

    from supercompat.embedders import OFF_LOOP_CHARS

    threads = []

    class Recording(HashingEmbedder):
        def vector(self, text):
            threads.append(threading.get_ident())
            return super().vector(text)

    embedder = Recording(16)
    await embedder.embed(["small", "texts"])
    assert set(threads) == {threading.get_ident()}  # on the loop: not worth a thread
    threads.clear()
    await embedder.embed(["x" * OFF_LOOP_CHARS, "y"])
    assert len(threads) == 2 and threading.get_ident() not in threads


def test_batched_keeps_order_and_the_limits_of_a_request():
    texts = ["a" * n for n in (3, 3, 3, 5, 1, 9, 2)]
    by_items = [texts[0:2], texts[2:4], texts[4:6], texts[6:]]
    assert batched(texts, max_items=2, max_tokens=100, count=len) == by_items
    by_tokens = [texts[0:3], texts[3:5], texts[5:6], texts[6:]]
    assert batched(texts, max_items=10, max_tokens=9, count=len) == by_tokens
    assert batched([], max_items=2, max_tokens=9, count=len) == []


@pytest.mark.parametrize("vectors, problem", [([[1.0, 2.0]], "1 vectors of [2] dimensions for 2 texts"),
                                              ([[1.0, 2.0], [1.0]], "2 vectors of [1, 2] dimensions"),
                                              ([[1.0, 2.0], [float("nan"), 0.0]], "not all finite")])
def test_a_providers_vectors_are_checked(vectors, problem):
    with pytest.raises(BadGateway, match=re.escape(problem)):
        checked_vectors(vectors, 2, 2, "some-model")
    assert checked_vectors([[1, 2], [3, 4]], 2, 2, "some-model") == [[1.0, 2.0], [3.0, 4.0]]


def test_normalised():
    assert normalised([3.0, 4.0]) == [0.6, 0.8] and normalised([0.0, 0.0]) == [0.0, 0.0]


@pytest.mark.parametrize("unit", ["word ", "🚀", "日本", "e\u0301"])
def test_cut_to_tokens_keeps_whole_characters_within_the_limit(unit):
    text = "start " + unit * 5000
    cut = cut_to_tokens(text, 1000)
    assert text.startswith(cut) and 990 < count_tokens(cut) <= 1000
    assert cut_to_tokens("short", 1000) == "short"
