"""ChargeWatch edge_agent."""
