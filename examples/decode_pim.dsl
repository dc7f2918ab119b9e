# Decode-heavy Llama-2-7B serving on a multi-core NPU whose HBM3 stacks are HBM-PIM (AttAcc-style, npu-pim).
# The cost backend sends each memory-bound kernel (decode attention, small-batch FC/GEMV) to the PIM units
# when it runs faster there than on the cores, per task and placement (CostModel(pim="auto")).
#   mapc compile examples/decode_pim.dsl
#   mapc policy examples/decode_pim.dsl -o decode_pim.policy   # thresholds, policy.json

workload decode_heavy {
  serve llama2_7b
  prefill batch=2  seq=512                     # a couple of new prompts ...
  decode  batch=24 context=512..2048 steps=2   # ... next to many running generations of mixed lengths
  microbatches 4
}

parallel { segment 4 }

hardware target = npu-pim
