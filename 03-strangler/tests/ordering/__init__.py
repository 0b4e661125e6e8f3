"""Tests of the ordering package."""
