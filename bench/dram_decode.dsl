# The issue-13 case: Llama-2-13B decode with `tensor 4` and 2 micro-batches on mcm6x6 (8 of 36 chiplets busy).
#   python bench/dram_channels.py   (bench/dram_channels.md)
workload decode13b {
  serve llama2_13b
  decode batch=16 context=1024
  microbatches 2
}

parallel { tensor 4  pipeline 1  placement block  segment 4 }
