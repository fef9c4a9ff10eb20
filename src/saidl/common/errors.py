"""User-facing errors: one short message saying what, where and how to fix it."""


class SaidlError(Exception):
    """Base class of every error a user can cause; its message is meant to be read as is."""


class ConfigError(SaidlError):
    """A configuration value is invalid."""


class DataError(SaidlError):
    """A dataset or asset is missing or corrupt."""


class RunSchemaError(SaidlError):
    """A run JSON is missing or malformed."""


class LatexError(SaidlError):
    """LaTeX failed to compile a generated report."""


class TemplateError(SaidlError):
    """A Jinja2 template failed to render."""
