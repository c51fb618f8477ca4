"""Core's memory chunk index passes the ChunkIndexTests kit; reciprocal rank fusion; ``[index]`` in the
configuration, the register_chunk_indexes hook, and which index an App uses."""

import asyncio

import pytest

from supercompat import plugins, supercompat
from supercompat.app import App
from supercompat.cli import main
from supercompat.config import load_adapters
from supercompat.errors import ConfigError
from supercompat.search import (
    KEYWORD_BUDGET,
    RRF_K,
    ChunkIndex,
    KeywordPlan,
    candidates,
    fuse,
    fuse_search,
    keyword_plan,
    keywords,
)
from supercompat.search_memory import MemoryChunkIndex, memory_chunk_index
from supercompat.storage import memory_storage_adapter
from supercompat.testing import ChunkIndexTests, app_of


class TestMemoryChunkIndex(ChunkIndexTests):
    @pytest.fixture
    async def chunk_index(self):
        index = memory_chunk_index()
        yield index
        await index.close()


def test_fusion_scores_lie_in_zero_one_best_first():
    fused = fuse(["a", "b", "c"], ["b", "a", "d"], limit=10)
    assert [key for key, _ in fused] == ["a", "b", "c", "d"]  # a and b tie: a came first
    scores = [score for _, score in fused]
    assert scores[0] == scores[1] < 1.0 and scores == sorted(scores, reverse=True)
    assert all(0 < score <= 1 for score in scores)
    assert fuse(["x"], ["x"], limit=1) == [("x", 1.0)]  # first in every ranking
    assert fuse(["x", "y"], limit=1) == [("x", 1.0)]
    assert fuse(["x"], [], limit=5) == [("x", pytest.approx(0.5))]  # first in one of two rankings
    assert fuse([], limit=3) == [] and fuse(limit=3) == []
    assert fuse(["a", "b"], limit=5)[1][1] == pytest.approx((RRF_K + 1) / (RRF_K + 2))


def test_rankings_are_as_deep_as_the_result():
    assert candidates(1) == 1 and candidates(10) == 10 and candidates(50) == 50


def test_weighted_fusion_normalises_by_the_weights():
    assert fuse(["x"], ["x"], limit=1, weights=(0.25, 0.75)) == [("x", 1.0)]
    [(key, score)] = fuse(["x"], [], limit=1, weights=(0.25, 0.75))
    assert key == "x" and score == pytest.approx(0.25)
    with pytest.raises(ValueError):
        fuse(["x"], ["y"], limit=1, weights=(1.0,))


def test_a_search_weighs_vectors_above_words_yet_keeps_a_chunk_first_by_words_alone():
    by_vector = [f"v{i}" for i in range(1, 11)]
    fused = [key for key, _ in fuse_search(["w"], by_vector, limit=10)]
    assert fused[0] == "v1"  # first by vector beats first by words
    assert "w" in fused  # an exact word match the vectors missed is kept, above the vector ranking's tail
    assert fused.index("w") < fused.index("v9") and "v10" not in fused  # it took the tail's place
    assert fuse_search(["a", "b"], None, limit=5) == fuse(["a", "b"], limit=5)


def test_a_keyword_search_keeps_the_rarest_words_within_its_budget():
    assert keyword_plan({}) == KeywordPlan(())
    plan = keyword_plan({"used": 900, "zebra": 3, "value": 800}, budget=1000)
    assert plan == KeywordPlan(("zebra", "value"))
    assert keyword_plan({"used": 900, "zebra": 3, "nowhere": 0}, budget=1000) == KeywordPlan(
        ("used", "zebra", "nowhere"))
    # Even the rarest word matches more than the budget: every word, all required.
    plan = keyword_plan({"used": 2001, "value": 3000}, budget=2000)
    assert plan == KeywordPlan(("used", "value"), every=True)
    assert keyword_plan({"used": 5000}, budget=2000) == KeywordPlan(("used",))
    assert keyword_plan({"a": 10, "b": 10}, budget=KEYWORD_BUDGET).words == ("a", "b")


def test_keywords_drop_stopwords_and_case():
    assert keywords("The Orbit of MARS, in 687 days!") == ["orbit", "mars", "687", "days"]
    assert keywords("it is what it is") == []


def test_an_app_uses_the_storage_adapters_index_else_memory():
    assert isinstance(App().index, MemoryChunkIndex)  # the memory storage has none of its own
    index = memory_chunk_index()

    class Storage(type(memory_storage_adapter())):
        def default_chunk_index(self):
            return index

    assert App(storage_adapter=Storage()).index is index
    given = memory_chunk_index()
    assert App(storage_adapter=Storage(), chunk_index=given).index is given


def test_supercompat_takes_a_chunk_index():
    index = memory_chunk_index()
    assert app_of(supercompat(chunk_index=index)).index is index
    assert isinstance(app_of(supercompat()).index, MemoryChunkIndex)


def test_register_chunk_indexes_through_entry_point(tmp_path):
    spec = plugins.get_adapter_spec("index", "fixture-index")
    assert spec.plugin == "supercompat-fixture"
    assert plugins.get_adapter_spec("index", "memory").plugin == "supercompat"
    config = tmp_path / "supercompat.toml"
    config.write_text('[index]\nplugin = "fixture-index"\nlabel = "mine"\n')
    adapters = load_adapters(config)
    index = adapters["chunk_index"]
    assert isinstance(index, ChunkIndex) and index.options.label == "mine"
    app = App(**adapters)
    assert app.index is index
    asyncio.run(app.aclose())
    assert index.closed  # the App closes its index
    config.write_text('[index]\nplugin = "fixture-index"\nlabels = "mine"\n')
    with pytest.raises(ConfigError, match="Unknown option 'labels'"):
        load_adapters(config)
    config.write_text('[index]\nplugin = "nowhere"\n')
    with pytest.raises(ConfigError, match="Unknown index adapter 'nowhere'"):
        load_adapters(config)
    config.write_text("")
    assert load_adapters(config)["chunk_index"] is None  # the App then takes the storage's
    config.write_text('[index]\nplugin = "memory"\n')
    assert isinstance(load_adapters(config)["chunk_index"], MemoryChunkIndex)


def test_check_and_plugins_report_the_index(tmp_path, capsys):
    config = tmp_path / "supercompat.toml"
    config.write_text('[client]\nplugin = "scripted"\n')
    main(["check", "--config", str(config)])  # 2 where the server's extra is missing: not what is tested
    assert "[index]   ok       none named: chunks are searched where the storage adapter keeps its data" in (
        capsys.readouterr().out)
    config.write_text('[client]\nplugin = "scripted"\n[index]\nplugin = "memory"\n')
    main(["check", "--config", str(config)])
    assert "[index]   ok       memory (supercompat" in capsys.readouterr().out
    config.write_text('[client]\nplugin = "scripted"\n[index]\nplugin = "nowhere"\n')
    assert main(["check", "--config", str(config)]) == 2
    assert "[index]   PROBLEM  Unknown index adapter 'nowhere'" in capsys.readouterr().out
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "index adapters:" in out and "fixture-index" in out
