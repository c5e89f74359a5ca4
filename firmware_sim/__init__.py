"""ChargeWatch firmware_sim."""
