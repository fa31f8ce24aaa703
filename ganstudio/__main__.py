"""`python -m ganstudio` runs the command line (and, later, the studio)."""

from ganstudio.cli import main

raise SystemExit(main())
