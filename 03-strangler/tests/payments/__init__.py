"""Tests of the payments package."""
