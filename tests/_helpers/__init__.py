"""Shared test helpers: references and hypothesis strategies."""
