"""Inventory: how many units of each product can be sold. Public surface: `inventory.api`."""
