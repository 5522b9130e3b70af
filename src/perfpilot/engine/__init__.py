"""The run engine: LoadGen tests in child processes, settings, logs, records."""
