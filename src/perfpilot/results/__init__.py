"""Results database, import of published results, export, and reproduction of runs."""
