# Prefill-heavy mix: long prompts (RAG / document summarisation) on Llama-3-8B, few decode steps.

workload long_prompts {
  serve llama3_8b
  prefill batch=4  seq=[4096, 6144, 8000, 8000]
  decode  batch=4  context=8000
  microbatches 4
  slo ttft 2 s
}

parallel { tensor 1  pipeline auto  pd auto }
