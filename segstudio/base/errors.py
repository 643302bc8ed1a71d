"""Errors a user can cause. Their message is one sentence: what happened and what to do.

The CLI prints `error: <message>` and exits non-zero; the window shows the message. Anything that is not
a UserError is a bug and keeps its traceback. The class says what kind of thing went wrong, so callers
branch on the class (never on the message text, which is for people):
ConfigError for a config value or command-line option (including an output path that cannot be used),
DataError for a dataset, TrainingError for a run that cannot start or go on, WeightsError for weights.
"""


class UserError(Exception):
    """An error caused by input the user controls (paths, columns, config values, data)."""


class ConfigError(UserError):
    """A config file or value is invalid."""


class DataError(UserError):
    """A dataset cannot be opened, read or used as asked."""


class TrainingError(UserError):
    """Training cannot start or had to stop (NaN loss, out of memory, missing weights)."""


class WeightsError(TrainingError):
    """A weights name, file or download the user asked for cannot be used (training cannot start with it)."""


class ExportError(UserError):
    """An export cannot be written (a missing optional package, a format the model cannot take) or did not
    pass its parity suite."""
