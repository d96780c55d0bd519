"""Backhaul: returns, repair and refurbishment of connected hardware, serial by serial."""

__version__ = "0.1.0"
