"""Storage transports: one interface for every place exports write to and imports read from (DESIGN.md §2)."""
