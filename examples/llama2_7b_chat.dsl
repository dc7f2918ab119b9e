# Llama-2-7B chat serving mix: a batch of new prompts (prefill) alongside ongoing generations (decode).
# mapc compile examples/llama2_7b_chat.dsl --hw mcm6x6

workload chat {
  serve llama2_7b
  prefill batch=4  seq=512..2048      # prompt lengths spread evenly over the micro-batches
  decode  batch=32 context=1024       # one decode step of 32 running requests
  microbatches 8                      # 32 layers x (4 prefill + 8 decode micro-batches) = 384 tasks at segment 1
  # The graph is one iteration of the serving loop: 4 prompts of up to 2048 tokens are prefilled in it, so a
  # decoding request gets one token per iteration and its TPOT is the whole iteration (makespan >= 1.40 s on
  # mcm6x6: `tpot 50 ms` exits 3 with that floor). `mapc serve --chunk` simulates the chunked, per-step view.
  slo ttft 1500 ms  tpot 1600 ms
}

parallel { pipeline auto  placement block  pd fused  segment 1 }
