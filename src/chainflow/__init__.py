"""ChainFlow: the server side of a hybrid AI trading platform."""

__version__ = "0.1.0"
