# A transformer given by a local Hugging Face config.json (Mistral-7B-style: GQA with 8 KV heads).

model mistral7b = hf("hf_config.json")

workload chat {
  serve mistral7b
  prefill batch=2  seq=1024..4096
  decode  batch=16 context=2048
  microbatches 4
}

parallel { tensor 2 }
