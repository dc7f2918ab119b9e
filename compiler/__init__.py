"""Lowering to the computation execution graph and the problem built from it, evaluation and bounds, the
independent schedule checker, the replay simulator, and the emitters (files, plots, the terminal report)."""
