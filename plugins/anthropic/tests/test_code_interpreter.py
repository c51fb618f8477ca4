"""The CodeInterpreterTests kit with the anthropic adapter behind it against the fake Anthropic, on core's
bubblewrap sandbox: in process over a sync SDK client, over HTTP over an async one."""

from supercompat.testing.code_interpreter import provider_tests
from supercompat_anthropic.testing import ScriptedFakeAnthropic

TestAnthropicCodeInterpreter, TestAnthropicCodeInterpreterOverHTTP = provider_tests(ScriptedFakeAnthropic)
