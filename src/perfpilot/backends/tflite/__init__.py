"""TFLite backend (LiteRT interpreter). Importing this package imports no runtime."""
