"""Physical models of the world a lamppost controller sees: supply, lamp, sensors."""
