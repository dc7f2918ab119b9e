# Multi-tenant datacenter mix (SCAR-style): an image classifier, a BERT encoder and an LLM share one package.

workload datacenter {
  serve resnet50   { forward batch=16  microbatches 4 }
  serve bert_large { forward batch=8 seq=384  microbatches 4 }
  serve llama2_7b  {
    prefill batch=2  seq=[512, 1024]
    decode  batch=16 context=1024
    microbatches 4
  }
}

parallel { tensor 1  pipeline auto  segment 2 }
