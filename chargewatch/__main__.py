"""``python -m chargewatch`` runs the CLI."""

from chargewatch.cli import main

raise SystemExit(main())
