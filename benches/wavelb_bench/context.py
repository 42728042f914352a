"""What every suite is given: the run's mode, its work directory and the wavelb under test."""

from dataclasses import dataclass
from pathlib import Path

from .lab import Wavelb


@dataclass
class Context:
    smoke: bool  # a few seconds per suite: checks that it runs, measures nothing
    work: Path  # the run's temporary directory, removed at its end
    wavelb: Wavelb
