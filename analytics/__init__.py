"""ChargeWatch analytics."""
