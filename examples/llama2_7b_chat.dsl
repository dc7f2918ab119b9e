# Llama-2-7B chat serving mix: a batch of new prompts (prefill) alongside ongoing generations (decode).
# mapc compile examples/llama2_7b_chat.dsl --hw mcm6x6

workload chat {
  serve llama2_7b
  prefill batch=4  seq=512..2048      # prompt lengths spread evenly over the micro-batches
  decode  batch=32 context=1024       # one decode step of 32 running requests
  microbatches 8                      # 32 layers x (4 prefill + 8 decode micro-batches) = 384 tasks at segment 1
  slo ttft 200 ms  tpot 50 ms
}

parallel { pipeline auto  placement block  pd fused  segment 1 }
