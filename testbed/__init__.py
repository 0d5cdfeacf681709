"""The simulated posts wired to the host tools as in the field: `lamppost-sim` (a run with a
broker, the collector and the operations service; a town; the scorer). The one layer that
imports both simulator/ and host_tools/ (docs/architecture.md)."""
