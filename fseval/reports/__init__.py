"""Reading run directories: tables, comparisons, regression checks, plots, and scoring outside predictions."""
