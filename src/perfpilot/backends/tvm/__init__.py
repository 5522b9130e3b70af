"""Apache TVM backend (``pip install 'perfpilot[tvm]'``)."""
