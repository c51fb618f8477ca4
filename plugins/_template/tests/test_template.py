from supercompat import plugins
from supercompat_template import template_client_adapter


def test_registered_through_its_entry_point():
    plugins.reset()
    spec = plugins.get_adapter_spec("client", "template")
    assert spec.plugin == "supercompat-template"
    assert spec.build({"prefix": "> "}).prefix == "> "


async def test_echoes_the_last_user_message():
    adapter = template_client_adapter(prefix="echo: ")
    params = {"model": "echo", "messages": [{"role": "user", "content": "hi"},
                                            {"role": "assistant", "content": "?"},
                                            {"role": "user", "content": [{"type": "text", "text": "again"}]}]}
    completion = await adapter.chat_completions(params)
    assert completion["choices"][0]["message"]["content"] == "echo: again"
    chunks = [c async for c in adapter.chat_completions_stream(params)]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks).strip() == "echo: again"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
