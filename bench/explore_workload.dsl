# The workload of bench/explore_bench.py's speed part: Llama-2-7B chat serving with 48 micro-batches
# (1,792 tasks at segment 1), so that one fast-path trial (greedy) takes about a second on mcm6x6.
workload chat48 {
  serve llama2_7b
  prefill batch=8  seq=512..2048
  decode  batch=64 context=1024
  microbatches 48
}
parallel { pipeline auto  placement block  pd fused  segment 1 }
