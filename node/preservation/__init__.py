"""Long-term preservation checks: the scheduled pass over stored content (service) and its routes."""
