"""The ``lightmem`` command line (typer + rich). ``main`` is the console-script entry point."""

from lightmem.cli.app import app, main

__all__ = ["app", "main"]
