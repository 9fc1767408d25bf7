"""``python -m edge_moma`` runs the CLI."""

from .cli import main

main()
