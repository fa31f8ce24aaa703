"""What every command shares: the exit codes and the error for bad command-line input."""

from __future__ import annotations

from ganstudio.core.errors import UserError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class UsageError(UserError):
    """Bad command-line input; reported as one line, exit 2."""
