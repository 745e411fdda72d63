"""The `wharf` command line: serve, migrate, worker, builder, admin, secscan, builds.

Each module registers its commands on the one Typer app of `base` when imported; they import what
a command needs inside the command, so `wharf --help` and the server processes load little.
"""

from wharf.cli import admin, builds, secscan, serve, workers
from wharf.cli.base import app, main

__all__ = ["admin", "app", "builds", "main", "secscan", "serve", "workers"]
