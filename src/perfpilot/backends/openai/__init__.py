"""OpenAI-compatible servers over HTTP (``pip install 'perfpilot[openai]'``)."""
