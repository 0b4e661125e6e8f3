"""Catalog: products, categories and prices. Public surface: `catalog.api`."""
