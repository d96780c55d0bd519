"""Planning: the pre-launch return cost model and the returns forecast."""
