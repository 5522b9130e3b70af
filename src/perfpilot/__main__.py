from perfpilot.cli.main import entry

entry()
