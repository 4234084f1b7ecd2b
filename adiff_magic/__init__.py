"""The %%grad IPython extension (under construction: see the issues)."""

__version__ = "0.1.0"
