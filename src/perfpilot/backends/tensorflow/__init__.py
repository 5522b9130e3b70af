"""TensorFlow backend (SavedModel). Importing this package does not import TensorFlow."""
