"""Data access: SQL lives here and nowhere else."""
