# ZigZag's tpu_like core (shared/peer/zigzag-inputs/hardware/tpu_like.yaml, zigzag-dse 3.9.1) described in mapc's
# language, figure by figure (bench/validate/README.md lists them as ZigZag parses them). 1 cycle = 1 ns.
hardware zigzag_tpu_like {
  grid 1 x 1
  chiplet tpu {
    pes 32x32  dataflow ws  unroll channels     # spatial mapping K 32 on D1, C 32 on D2 (mapping/tpu_like.yaml)
    precision int8  accumulate int16             # W, I 8 bit; partial sums 16 bit (O), outputs 8 bit (O_final)
    freq 1 GHz
    mac 0.04 pJ/MAC                              # operational_array unit_energy
    rf 128 B  rf_energy 0.095 pJ/B               # rf_128B per MAC: weights, 0.095 pJ per 8-bit access
    acc_energy 0.0105 pJ/B                       # rf_2B per MAC: partial sums, 0.021 pJ per 16-bit access
    sram 2 MiB  sram_energy 1.6256 pJ/B  sram_write 1.4781 pJ/B   # sram_2MB: 416.16 / 378.4 pJ per 2048 bits
    sram_bw 256 GB/s                             # 2048 bits per cycle per port
  }
  dram dram { at west  bandwidth 8 GB/s  energy 10.9375 pJ/bit  capacity 1 GiB }   # one 64-bit port, 700 pJ/read
}
