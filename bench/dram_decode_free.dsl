# Llama-2-13B decode, 8 micro-batches, no tensor or pipeline directive (the solvers choose the groups).
#   python bench/dram_channels.py   (bench/dram_channels.md)
workload decode13b {
  serve llama2_13b
  decode batch=16 context=1024
  microbatches 8
}

parallel { segment 4 }
