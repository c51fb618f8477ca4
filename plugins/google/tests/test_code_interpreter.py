"""The CodeInterpreterTests kit with the google adapter behind it against the fake Gemini, on core's
bubblewrap sandbox: in process over a sync SDK client, over HTTP over an async one."""

from supercompat.testing.code_interpreter import provider_tests
from supercompat_google.testing import ScriptedFakeGemini

TestGeminiCodeInterpreter, TestGeminiCodeInterpreterOverHTTP = provider_tests(ScriptedFakeGemini)
