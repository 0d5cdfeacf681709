"""Local servers that implement the contractor APIs the dispatch adapters speak (tests only)."""
