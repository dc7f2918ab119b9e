# A transformer given by a local Hugging Face config.json (Mistral-7B-style: GQA with 8 KV heads).

model mistral7b = hf("hf_config.json")

workload chat {
  serve mistral7b
  prefill batch=2  seq=1024..4096
  decode  batch=16 context=2048
  microbatches 4
}

# `tensor auto` (the default) lets the solver size each task's chiplet group; `parallel { tensor 2 }` pins
# every task on 2 chiplets and the summary shows what that costs (about 14x the hardware's bound on mcm6x6:
# 2 chiplets cannot draw the package's DRAM bandwidth, and every decode step streams the 14 GB of weights).
parallel { tensor auto }
