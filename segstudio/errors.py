"""Errors a user can cause. Their message is one sentence: what happened and what to do.

The CLI prints `error: <message>` and exits non-zero; the window shows the message. Anything that is not
a UserError is a bug and keeps its traceback.
"""


class UserError(Exception):
    """An error caused by input the user controls (paths, columns, config values, data)."""


class ConfigError(UserError):
    """A config file or value is invalid."""


class DataError(UserError):
    """A dataset cannot be opened, read or used as asked."""


class TrainingError(UserError):
    """Training cannot start or had to stop (NaN loss, out of memory, missing weights)."""
