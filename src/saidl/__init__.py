"""SAiDL Spring 2025 induction assignment as a reproducible report pipeline."""

__version__ = "0.1.0"
