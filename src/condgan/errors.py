"""The project's own error classes.

Every error a user can cause (a bad file, a bad name, a label out of range) is a
`CondganError` whose message is one line: what was wrong, what was expected, how to fix it.
The CLI prints that line and exits non-zero, without a traceback.
"""


class CondganError(Exception):
    """A user-facing error: one line, says what, where and how to fix."""


class ConfigError(CondganError, ValueError):
    """A config key, value or name that is not valid."""


class DataError(CondganError):
    """A dataset or data file that cannot be used as it is."""


class CheckpointError(CondganError):
    """A run directory or checkpoint that cannot be loaded."""


class TrainingError(CondganError):
    """Training cannot go on (for example a non-finite loss)."""


class MetricError(CondganError):
    """A metric cannot be computed from what it was given (too few samples, mismatched features)."""
