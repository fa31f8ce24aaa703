"""Entry point of the frozen application: the same `ganstudio` command (studio with no arguments)."""

import multiprocessing
import sys

from ganstudio.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # background evaluation starts child processes
    sys.exit(main())
