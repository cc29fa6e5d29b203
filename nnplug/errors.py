"""The exceptions nnplug raises, so that callers can catch them by kind."""

from __future__ import annotations


class NnplugLookupError(KeyError):
    """A name that no registered component has."""

    def __str__(self) -> str:
        # KeyError would print the message with quotes around it.
        return str(self.args[0]) if self.args else ""


class UnknownLayerError(NnplugLookupError):
    """No layer is registered under that name."""


class UnknownLossError(NnplugLookupError):
    """No loss is registered under that name."""


class UnknownOptimizerError(NnplugLookupError):
    """No optimizer is registered under that name."""


class UnknownBackendError(NnplugLookupError):
    """No backend is registered under that name."""


class PluginError(RuntimeError):
    """A plugin failed to load or registered something invalid."""


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


class SpecError(ValueError):
    """A spec is malformed, or a component cannot be described by (or built from) one."""


class MissingDependencyError(ImportError):
    """An optional dependency needed for this feature is not installed."""


class ModelFileError(ValueError):
    """A saved model file is missing, truncated, tampered with or not an nnplug model."""


class NonFiniteModelError(ValueError):
    """A model holds NaN or infinite parameters, so it is not saved or used to predict."""


class OutputPathError(ValueError):
    """A file cannot be written where asked (checked before a long run, not after)."""


class ExportError(ValueError):
    """A model cannot be exported: a layer has no exporter, or its shapes do not fit."""
