"""The HostileInputTests kit on memory storage (the sqlalchemy plugin runs it on its databases)."""

from supercompat.testing import HostileInputTests


class TestHostileInputOnMemory(HostileInputTests):
    pass
