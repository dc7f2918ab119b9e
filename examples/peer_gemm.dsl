# Stream (stream-dse) peer case 2: one 512x4096x4096 GEMM in bf16, the shape of Stream's own input
# gemm_512_4096_4096.onnx. Stream spreads it over 4 of the 36 chiplets of a 6x6 Simba package; mapc places
# it on a tensor-parallel group of all 36 (32 MiB of weights, 0.9 MiB per chiplet: resident).
#
#   mapc compile examples/peer_gemm.dsl --hw mcm6x6
#
# A fully connected layer over a batch of 512 rows is exactly that GEMM: M = batch = 512, K = in, N = out.
# `microbatches 36` would split the rows into 36 tasks instead (row tiles): every tile then needs all the
# weights, which costs ~6x the makespan on mcm6x6. bench/peer.py also runs 36 column tiles.

model gemm_512_4096_4096 = cnn(dtype=bf16) { fc gemm in=4096 out=4096 }

workload peer_gemm {
  serve gemm_512_4096_4096
  forward batch=512
}
