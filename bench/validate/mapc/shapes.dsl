# The operator shapes of bench/validate/peer_reference.* as one-layer models (8-bit, batch 1), one workload serving
# them all: `mapc cost bench/validate/mapc/shapes.dsl --hw bench/validate/mapc/tpu_like.dsl` prices each alone.
# GEMMs out[M,N] = in[M,K] w[K,N] are `fc` layers with in=K out=N under `forward batch=M`.
model gemm_large = cnn(dtype=int8) { fc l in=4096 out=4096 }
model gemm_small = cnn(dtype=int8) { fc l in=1024 out=1024 }
model gemm_tiny = cnn(dtype=int8) { fc l in=256 out=256 }
model gemm_tall_ffn = cnn(dtype=int8) { fc l in=4096 out=11008 }
model gemv_4096 = cnn(dtype=int8) { fc l in=4096 out=4096 }
model gemv_11008 = cnn(dtype=int8) { fc l in=4096 out=11008 }
model attn_score = cnn(dtype=int8) { fc l in=128 out=512 }
model attn_value = cnn(dtype=int8) { fc l in=512 out=128 }
model conv3x3_64_56 = cnn(dtype=int8) { conv l in=64 out=64 k=3 stride=1 pad=1 hw=56 }
model conv7x7_s2_224 = cnn(dtype=int8) { conv l in=3 out=64 k=7 stride=2 pad=3 hw=224 }
model conv1x1_256_64_56 = cnn(dtype=int8) { conv l in=256 out=64 k=1 stride=1 pad=0 hw=56 }
model dwconv3x3_32_112 = cnn(dtype=int8) { conv l in=32 out=32 k=3 stride=1 pad=1 groups=32 hw=112 }
model conv3x3_s2_128_256_28 = cnn(dtype=int8) { conv l in=128 out=256 k=3 stride=2 pad=1 hw=28 }
model gemm_m128 = cnn(dtype=int8) { fc l in=4096 out=4096 }

workload shapes {
  serve gemm_large { forward batch=512 }
  serve gemm_small { forward batch=64 }
  serve gemm_tiny { forward batch=32 }
  serve gemm_tall_ffn { forward batch=2048 }
  serve gemv_4096 { forward batch=1 }
  serve gemv_11008 { forward batch=1 }
  serve attn_score { forward batch=512 }
  serve attn_value { forward batch=512 }
  serve conv3x3_64_56 { forward batch=1 }
  serve conv7x7_s2_224 { forward batch=1 }
  serve conv1x1_256_64_56 { forward batch=1 }
  serve dwconv3x3_32_112 { forward batch=1 }
  serve conv3x3_s2_128_256_28 { forward batch=1 }
  serve gemm_m128 { forward batch=128 }
}
