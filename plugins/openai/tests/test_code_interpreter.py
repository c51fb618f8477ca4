"""The CodeInterpreterTests kit with the openai adapter behind it against the fake OpenAI, on core's
bubblewrap sandbox: in process over a sync SDK client, over HTTP over an async one."""

from supercompat.testing.code_interpreter import provider_tests
from supercompat_openai.testing import ScriptedFakeOpenAI

TestOpenAICodeInterpreter, TestOpenAICodeInterpreterOverHTTP = provider_tests(ScriptedFakeOpenAI)
