"""The project's own exception types: everything a user can cause ends up as one of these."""


class FractoscopeError(Exception):
    """Base class: a clear, one-line, user-facing reason (no traceback needed)."""


class ImageReadError(FractoscopeError):
    """A file could not be read as an image (missing, corrupt, unsupported, too large)."""


class CalibrationError(FractoscopeError):
    """A pixel size is invalid or a manual scale could not be saved or loaded."""


class ModelError(FractoscopeError):
    """A checkpoint or model card is missing, tampered with or inconsistent."""


class AnalysisCancelled(FractoscopeError):
    """The user cancelled a running analysis."""
