"""One way to say what was wrong with an argument.

Every public entry point raises ``ValueError`` (wrong value) or ``TypeError`` (wrong kind) with a
message of the form ``"<argument>: got <value seen>, expected <what was expected>"``; the CLI
prints that line and exits with status 2.
"""


def _describe(seen):
    text = " ".join(repr(seen).split())  # one line, even for a module's repr
    return text if len(text) <= 80 else text[:77] + "..."


def bad_value(argument, seen, expected):
    """A ``ValueError`` naming the argument, the value seen and what was expected."""
    return ValueError(f"{argument}: got {_describe(seen)}, expected {expected}")


def bad_type(argument, seen, expected):
    """A ``TypeError`` naming the argument, the type seen and what was expected."""
    return TypeError(f"{argument}: got {type(seen).__name__}, expected {expected}")
