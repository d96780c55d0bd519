"""Catalog: brands, products and sites (later firmware, test plans, reason and fault codes)."""
