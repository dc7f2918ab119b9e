# A user-described package: use it with  mapc compile examples/llama2_7b_chat.dsl --hw examples/custom_hw.dsl
# A 4x4 heterogeneous MCM: two rows of weight-stationary chiplets, two of output-stationary ones.

hardware mcm4x4_hetero {
  grid 4 x 4
  chiplet ws_core { pes 32x32  dataflow ws  freq 1 GHz  sram 2 MiB  mac 0.0873 pJ/MAC }   # Gemini LR_mac_cost
  chiplet os_core { pes 32x32  dataflow os  freq 1 GHz  sram 4 MiB }
  place ws_core rows 0..1
  place os_core rows 2..3
  nop mesh { link 100 GB/s  hop 20 ns  energy 1.3 pJ/bit }        # Simba-class GRS links
  dram hbm { at west, east  bandwidth 256 GB/s  energy 3.9 pJ/bit  capacity 32 GiB }   # HBM2, O'Connor 2017
}
