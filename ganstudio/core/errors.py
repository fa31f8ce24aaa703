"""Errors a user can fix: each says what is wrong in one line; the CLI exits 2 and the studio shows it."""

from __future__ import annotations


class UserError(ValueError):
    """Base of every error caused by the user's input (a file, a config, an argument): str(e) is one clear line."""


class ConfigError(UserError):
    """A config value or file the user must fix."""


class CheckpointError(UserError):
    """A checkpoint that cannot be used."""


class RunDirError(UserError):
    """A run directory that cannot be used as asked."""


class DataError(UserError):
    """Bad or unusable dataset; str(e) is one clear line for the user."""
