"""The toolkit's version (the bottom layer: everything may import it)."""

__version__ = "0.1.0"
