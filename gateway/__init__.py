"""ChargeWatch gateway."""
