"""Hardware model: chiplets, dataflows, network-on-package, DRAM/HBM, PIM, presets and the cost backend."""
