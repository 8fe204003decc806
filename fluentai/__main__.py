"""``python -m fluentai`` is the ``fluentai`` command."""
from .cli import entry

entry()
