# SCALE-Sim 3.0.0's 32x32 systolic array (bench/validate/scalesim/scalesim_{ws,os,is}.cfg) in mapc's language: one
# core per dataflow. A SCALE-Sim PE holds a single stationary operand (no second register to load into while
# the current tile computes): `rf 1 B` at int8. The SRAM buffers are large and DRAM is not modelled there
# (InterfaceBandwidth CALC), so the cores get a large buffer and ample DRAM bandwidth: the array sets the time.
hardware scalesim_32x32 {
  grid 1 x 3
  chiplet ws_core { pes 32x32 dataflow ws precision int8 rf 1 B freq 1 GHz sram 24 MiB }
  chiplet os_core { pes 32x32 dataflow os precision int8 rf 1 B freq 1 GHz sram 24 MiB }
  chiplet is_core { pes 32x32 dataflow is precision int8 rf 1 B freq 1 GHz sram 24 MiB }
  place ws_core cols 0
  place os_core cols 1
  place is_core cols 2
  dram dram { at west  bandwidth 100 TB/s }
}
