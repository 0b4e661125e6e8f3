"""Payments: charges and refunds at the (fake) payment provider. Public surface: `payments.api`."""
