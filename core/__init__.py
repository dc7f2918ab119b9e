"""Value types every layer shares: errors, units, the resolved spec, hardware, the execution graph, schedules
and solver options. This package imports nothing else of mapc."""
