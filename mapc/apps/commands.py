"""The command table of `mapc` and its argument parser: every command's name, help, arguments and the function
that runs it (each in its app module). `mapc.cli.main` imports this after it has blocked Ctrl-C."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

import mapc
from mapc.apps import bench, catalog, compare, cost, explore, policy, serve, simulate
from mapc.apps import compile as compile_app
from mapc.core.errors import EXIT_INPUT

EPILOG = """\
exit codes:
  0    success
  2    input error: syntax or meaning error in a source file (file:line:col is printed), unknown preset,
       model, solver or option; nothing is written
  3    infeasible: no schedule exists (the message names the constraint and the numbers)
  4    no schedule found within the time budget (raise --time-limit)
  70   internal error: a bug in mapc (please report it; MAPC_DEBUG=1 prints the traceback)
  130  interrupted (Ctrl-C)

examples:
  mapc compile model.dsl --hw mcm6x6            writes ./model.schedule/
  mapc compile examples/llama2_7b_chat.dsl --hw mcm6x6 --solver greedy -o out/
  mapc check model.dsl
  mapc simulate model.schedule/schedule.json    replay with link/DRAM contention
  mapc policy examples/decode_pim.dsl --hw npu-pim
  mapc serve examples/llama2_7b_chat.dsl --hw mcm6x6 --arrivals poisson:2 --requests 1000 --rates 0.5,1,2,4
  mapc explore examples/llama2_7b_chat.dsl --hw mcm6x6 --vary sram=1MiB..8MiB:log --vary link=50GB/s,400GB/s
  mapc presets
  mapc models path/to/config.json
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors with exit 2 by raising instead of calling sys.exit directly."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_INPUT)


COMMANDS = (
    # name, help, add_arguments, run, description
    ("compile", "schedule a workload and write schedule.json, trace.json, tasks.csv, gantt.png",
     compile_app.add_compile_arguments, compile_app.cmd_compile,
     "Compile FILE (any name or extension) to a schedule. Without -o the outputs go to ./<stem>.schedule/ in the "
     "current directory (model.dsl -> ./model.schedule/); the path is printed. An existing output directory is "
     "updated in place (mapc's files are replaced, other files are left alone)."),
    ("check", "parse and validate a file (and lower its workload); writes nothing",
     compile_app.add_check_arguments, compile_app.cmd_check,
     "Every check `mapc compile` makes, without solving: the same input gets the same verdict."),
    ("cost", "per-operator costs: every operator shape alone on each chiplet type (cycles, bound, energy by level)",
     cost.add_arguments, cost.cli_main, None),
    ("presets", "list the built-in hardware presets", catalog.add_presets_arguments, catalog.cmd_presets, None),
    ("models", "list the model zoo, or describe a Hugging Face config.json", catalog.add_models_arguments,
     catalog.cmd_models, None),
    ("simulate", "replay a schedule.json with NoP link and DRAM contention", simulate.add_arguments,
     simulate.cmd_simulate,
     "Replay SCHEDULE (a schedule.json written by `mapc compile`, read alone) as a discrete-event simulation in "
     "which transfers share NoP links and tasks share DRAM channels (max-min fair), and compare its makespan "
     "with the schedule's."),
    ("policy", "PIM dispatch policy: per kernel class and width, the batch below which it runs on PIM "
               "(policy.json)", policy.add_arguments, policy.cli_main, None),
    ("serve", "serving under request traffic: continuous batching, p50/p90/p99 TTFT/TPOT, goodput (requests.csv, "
              "serve.json)", serve.add_arguments, serve.cli_main,
     "Simulate FILE's serving under request arrivals (poisson, gamma or a CSV trace), iteration by iteration, "
     "each iteration priced by a compiled schedule of that batch and context (cached on a bucketing grid). "
     "Without -o the outputs go to ./<stem>.serve/."),
    ("compare", "run several solvers with one budget: table, compare.csv/json, anytime.png", compare.add_arguments,
     compare.cli_main, None),
    ("bench", "run the fixed suite (examples x presets x solvers): results.csv, results.md", bench.add_arguments,
     bench.cli_main, None),
    ("explore", "hardware design-space exploration on Optuna and Dask: explore.csv/json, pareto.png, best designs",
     explore.add_arguments, explore.cli_main,
     "Search hardware variants of BASE (--vary lists and ranges) with an Optuna study (--sampler, --objectives), "
     "scoring each trial by the fast path on Dask workers (--workers, --scheduler); the study lives in the output "
     "folder (study.journal) and --resume continues it after a kill."),
)


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog="mapc", description="mapc: a scheduling compiler for AI workloads on multi-chiplet modules, "
                                         "multi-core NPUs and PIM systems.", epilog=EPILOG, formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"mapc {mapc.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_, add, run, description in COMMANDS:
        sp = sub.add_parser(name, help=help_, description=description, epilog=EPILOG, formatter_class=fmt)
        add(sp)
        sp.set_defaults(func=run)
    return p
