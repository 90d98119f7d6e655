"""axtrain: hardware-oriented neural-network training for approximate inference."""

__version__ = "0.1.0"
