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


class WriteError(OSError):
    """A file that could not be written (full disk, read-only folder, no permission); still an OSError
    for callers that handle those, and str(e) is one line naming the file and the cause."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror or 'write failed'}"


def os_error_line(e: OSError) -> str:
    """One line for any OSError: the file it is about and the cause, without errno noise."""
    if isinstance(e, WriteError):
        return str(e)
    cause = e.strerror or (str(e).strip().splitlines() or [type(e).__name__])[0]
    return f"{e.filename}: {cause}" if e.filename else cause
