"""mapc: a scheduling compiler for AI workloads on multi-chiplet modules, multi-core NPUs and PIM systems.

Data flow (see README): text --dsl--> Spec; Spec + Hardware --compiler.lower--> ExecutionGraph;
ExecutionGraph + Hardware --hw.cost--> CostModel; --solvers--> Schedule; --compiler.evaluate/emit--> files.
"""

__version__ = "0.1.0"
