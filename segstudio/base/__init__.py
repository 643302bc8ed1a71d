"""Foundation: the config and its presets, user errors, atomic files, locks, run advice, desktop files.
Imports nothing else of segstudio, and neither torch nor Qt."""
