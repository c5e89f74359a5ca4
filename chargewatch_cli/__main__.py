"""``python -m chargewatch_cli`` runs the CLI."""

from chargewatch_cli import main

raise SystemExit(main())
