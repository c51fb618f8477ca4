"""The CodeInterpreterTests kit with the mistral adapter behind it against the fake Mistral, on core's
bubblewrap sandbox: in process over a sync SDK client, over HTTP over an async one."""

from supercompat.testing.code_interpreter import provider_tests
from supercompat_mistral.testing import ScriptedFakeMistral

TestMistralCodeInterpreter, TestMistralCodeInterpreterOverHTTP = provider_tests(ScriptedFakeMistral)
