"""Exceptions a user can meet, each saying which dataset, which URL or file, and what went wrong.

The library raises these; only ``cli.py`` turns them into messages on the terminal.
"""

from __future__ import annotations


class SendbenchError(Exception):
    """Base class for every error sendbench raises on purpose."""


class CatalogueError(SendbenchError):
    """catalogue.yaml is invalid; the message names the entry and the problem."""


class HarvestError(SendbenchError):
    """A dataset could not be harvested.

    ``dataset`` is the catalogue id, ``source`` the URL or local path involved (if any).
    """

    def __init__(self, dataset: str | None, message: str, source: str | None = None):
        self.dataset = dataset
        self.source = source
        self.detail = message
        where = f" ({source})" if source else ""
        prefix = f"{dataset}: " if dataset else ""
        super().__init__(f"{prefix}{message}{where}")


class FetchError(HarvestError):
    """A download failed: connection error, timeout, HTTP error or a body of the wrong kind."""


class BadFileError(HarvestError):
    """A file was fetched but cannot be read: truncated zip, HTML instead of data, unsafe zip."""


class LayoutError(HarvestError):
    """A published file does not have the columns the catalogue expects."""

    def __init__(
        self,
        dataset: str | None,
        file: str,
        missing: list[str],
        unexpected: list[str],
        source: str | None = None,
    ):
        self.file = file
        self.missing = sorted(missing)
        self.unexpected = sorted(unexpected)
        msg = (
            f"{file} does not have the expected layout; "
            f"missing columns: {', '.join(self.missing) or 'none'}; "
            f"unexpected columns: {', '.join(self.unexpected) or 'none'}. "
            "The publisher may have changed the file: update the layout in the catalogue or module."
        )
        super().__init__(dataset, msg, source)


class AreaError(SendbenchError):
    """An area could not be resolved (unknown or ambiguous name or code)."""
