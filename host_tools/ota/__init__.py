"""Over-the-air firmware updates, the operator's side: signed bundles, the chunk server, rollouts."""
