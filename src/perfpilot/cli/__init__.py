"""The ``perfpilot`` command line (entry point: :func:`perfpilot.cli.main.entry`)."""
