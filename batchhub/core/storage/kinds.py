"""Imports every transport module so that each registers its kind."""
