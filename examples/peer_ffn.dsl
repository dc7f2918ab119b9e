# Stream (stream-dse) peer case 3: the SwiGLU FFN of Llama-3-8B over 512 tokens in bf16, the shapes of Stream's
# input swiglu_512_4096_14336.onnx. Its 352 MB of weights (117 MB per matrix) exceed one chiplet's 2 MiB SRAM,
# so Stream refuses it; mapc streams the weights from DRAM at their priced cost and schedules it.
#
#   mapc compile examples/peer_ffn.dsl --hw mcm6x6
#
# The language has no elementwise layer, so this is mapc's own SwiGLU convention (compiler/ops.py): gate and up
# fused into one 4096 -> 2 x 14336 GEMM, then down 14336 -> 4096. SiLU and the gating product (0.02 % of the
# FLOPs) are left out; bench/peer.py builds Stream's exact 5-node graph (gate, up, SiLU, Mul, down).

model llama3_8b_ffn = cnn(dtype=bf16) {
  fc gate_up in=4096 out=28672       # gate and up side by side: 512x4096 @ 4096x(2x14336)
  fc down in=14336 out=4096          # SiLU(gate) * up -> 512x14336 @ 14336x4096
}

workload peer_ffn {
  serve llama3_8b_ffn
  forward batch=512
}
