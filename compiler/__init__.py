"""Lowering to the computation execution graph, evaluation, schedule checking, emitters and the CLI driver."""
