"""Training, evaluation and rollout of router bundles; the fleet side of the learning loop."""
