"""The former name of :mod:`supercompat.loop`, kept for code written against it: the same module
object, so attributes read or patched through either name are the same."""

import sys

from . import loop

sys.modules[__name__] = loop
