"""The one exception family essay raises for expected failures.

The CLI prints an :class:`EssayError` as one line (``es: <message>``) and exits non-zero,
never with a traceback: bad input, config, network, auth and remote failures are all
expected. Anything else is a bug and keeps its traceback.
"""


class EssayError(Exception):
    """An expected failure with a message that says what, where, and what to do."""

    exit_code = 1


class UsageError(EssayError):
    """Bad input on the command line."""

    exit_code = 2
