# Prefill-decode fused vs disaggregated for a real request mix (examples/requests.csv: 32 requests with their
# own prompt and output lengths). `pd auto` compiles fused and three prefill/decode core splits and keeps the
# best; the report's notes list every candidate's objective. Under a disaggregated split the prompt's KV cache
# moves from the prefill to the decode cores as graph edges.
#   mapc compile examples/pd_fused_vs_disagg.dsl --hw npu4x4
# Fix a split with e.g. `pd disaggregated(prefill=8, decode=8)`, or `pd fused`.
workload chat_mix {
  serve llama2_7b
  requests "requests.csv" steps=2    # continuous batching: requests leave the batch after their output
  microbatches 4
  slo ttft 1500 ms  tpot 600 ms
}

parallel { tensor 4  tp 1d  placement block  pd auto  segment 4 }
