"""Settings profiles, the tuner, design-space sweeps and Pareto fronts."""
