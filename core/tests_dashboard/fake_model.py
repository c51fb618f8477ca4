"""The dashboard tests' model: the scripted adapter, answering after the last user message's text and
streaming word by word with pauses, so that a browser sees a stream arrive (and can stop it).

- "weather" in it: one tool call, ``get_weather`` with ``{"city": "Paris"}``;
- "slowly": the words "one two three ..." up to sixty, 0.2 s apart (``Model.SLOW_TEXT``);
- anything else: "You said: <text>", 0.05 s between words;
- after a tool round: "The tools answered: <outputs>".

Replies given to ``script()`` (and errors to ``fail()``) come first, as in the scripted adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from supercompat.scripted import Reply, ScriptedClientAdapter, _text_of, default_reply

UNITS = "one two three four five six seven eight nine".split()
TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty"}


def number_word(n: int) -> str:
    """1..60 in English words, hyphenated (one word each): "twenty-one"."""
    if n < 10:
        return UNITS[n - 1]
    if n < 20:
        return TEENS[n - 10]
    tens, unit = TENS[n - n % 10], n % 10
    return tens if not unit else f"{tens}-{UNITS[unit - 1]}"


def last_user_text(params: dict[str, Any]) -> str:
    """The text of the last message with role "user" ("" if none), lower-cased."""
    messages = params.get("messages") or []
    return next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "").lower()


def after_tools(params: dict[str, Any]) -> bool:
    messages = params.get("messages") or []
    return bool(messages) and messages[-1].get("role") == "tool"


class Model(ScriptedClientAdapter):
    """A client adapter (``App(client_adapter=Model())``) for the behaviours above; ``requests``
    records every chat-completions body it was given."""

    SLOW_TEXT = " ".join(number_word(n) for n in range(1, 61))
    PAUSE, SLOW_PAUSE = 0.05, 0.2  # seconds before each streamed word

    @staticmethod
    def reply_to(params: dict[str, Any]) -> Reply:
        text = last_user_text(params)
        if after_tools(params):
            return default_reply(params)
        if "weather" in text:
            return Reply(tool_calls=[("get_weather", {"city": "Paris"})])
        if "slowly" in text:
            return Reply(text=Model.SLOW_TEXT)
        return default_reply(params)

    def _next(self, params: dict[str, Any]) -> Reply:
        if self._replies:  # script() and fail() first
            return super()._next(params)
        self.requests.append(params)
        return self.reply_to(params)

    async def chat_completions_stream(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        slow = not after_tools(params) and "slowly" in last_user_text(params)
        pause = self.SLOW_PAUSE if slow else self.PAUSE
        async for chunk in super().chat_completions_stream(params):
            if any(choice["delta"].get("content") for choice in chunk["choices"]):
                await asyncio.sleep(pause)  # a cancelled run's task stops here
            yield chunk


__all__ = ["Model"]
