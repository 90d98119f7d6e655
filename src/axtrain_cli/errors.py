"""The kinds of failure the library reports, each with a one-line message that names what
is wrong and what is allowed (the command line prints it and exits 2; a notebook sees the
exception). Nothing here imports torch."""


class AxtrainError(Exception):
    """A failure axtrain explains in one line."""


class ConfigError(AxtrainError, ValueError):
    """A bad setting: the message names the key, the bad value and what is allowed."""


class DataError(AxtrainError, RuntimeError):
    """Data cannot be loaded or split; the message says what to do."""


class NetworkError(AxtrainError, ValueError):
    """A network that cannot run on the hardware models as given (no logits to read, a
    refused layer, a target that does not build)."""


class NoResults(AxtrainError):
    """Nothing to report: no (compatible) results.csv under the inputs."""


class RecostError(AxtrainError):
    """A multiplier of the runs cannot be re-costed under another power model."""


class SynthesisError(AxtrainError, ValueError):
    """A design that cannot be synthesised or used."""
