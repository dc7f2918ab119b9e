"""Solvers behind one interface: `solve(problem, budget) -> SolveResult`. See `mapc.solvers.base`."""
