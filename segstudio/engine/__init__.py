"""Training, evaluation, checkpoints and run folders: plain functions that report through events."""
