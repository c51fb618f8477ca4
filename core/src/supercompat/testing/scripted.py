"""The scripted client adapter's former place: it is production code now, :mod:`supercompat.scripted`."""

from ..scripted import Reply, ScriptedClientAdapter, ScriptedOptions, default_reply, scripted_client_adapter

__all__ = ["Reply", "ScriptedClientAdapter", "ScriptedOptions", "default_reply", "scripted_client_adapter"]
