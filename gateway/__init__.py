"""Gerbang: federated data-integration gateway between smart-city systems and police databases."""
