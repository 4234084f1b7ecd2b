"""adiff-magic: the %%grad IPython extension. Load it with ``%load_ext adiff_magic``."""
from typing import Any

__version__ = "0.1.0"


def load_ipython_extension(ip: Any) -> None:
    """Called by ``%load_ext adiff_magic``: registers %%grad."""
    from .magic import GradMagics

    ip.register_magics(GradMagics)
