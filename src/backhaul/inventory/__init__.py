"""Inventory: sellable stock by SKU, condition and site (later: the spare-parts pool)."""
