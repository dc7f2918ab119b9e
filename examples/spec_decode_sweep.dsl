# Speculative / parallel decoding sweep: the same Llama-2-7B decode step verified at widths 1, 2, 4 and 8 new
# tokens per sequence, served side by side on npu-pim. A wider step raises the FC kernels' FLOP/B (batch x
# width tokens share one weight read), so they leave PIM at smaller batches; MHA decode attention stays there.
#   mapc compile examples/spec_decode_sweep.dsl
#   mapc policy examples/spec_decode_sweep.dsl -o sweep.policy  # widths 1..8, batch 1..256

model draft_w1 = llama2_7b
model draft_w2 = llama2_7b
model draft_w4 = llama2_7b
model draft_w8 = llama2_7b

workload spec_sweep {
  serve draft_w1 { decode batch=8 context=1024 width=1 }
  serve draft_w2 { decode batch=8 context=1024 width=2 }
  serve draft_w4 { decode batch=8 context=1024 width=4 }
  serve draft_w8 { decode batch=8 context=1024 width=8 }
}

parallel { segment 8 }

hardware target = npu-pim
