"""``python -m emocirc`` runs the command line."""

from emocirc.cli import main

raise SystemExit(main())
