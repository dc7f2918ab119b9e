# An A100-like accelerator as one mapc core, for roofline checks (NVIDIA A100 SXM 80 GB datasheet and whitepaper):
# 432 tensor cores (108 SMs x 4) of 256 FP16 FMA per clock (16 x 16 here) at 1.41 GHz = 312 TFLOP/s dense FP16;
# 78 TFLOP/s of non-tensor FP16 for norms, softmax and activations; 40 MB of L2 as the shared buffer; 256 B of
# registers per MAC (256 KB per SM / 1024 FMA); 2.039 TB/s of HBM2e, 80 GB. Not a GPU simulator: the
# datasheet's peaks and one shared buffer.
hardware a100_like {
  grid 1 x 1
  chiplet sm_array { pes 16x16  arrays 432  dataflow ws  freq 1.41 GHz  sram 40 MiB  rf 256 B  vector 78 TFLOP/s }
  dram hbm2e { at west  bandwidth 2039 GB/s  capacity 80 GB }
}

workload prefill_2048 {
  serve llama2_7b
  prefill batch=1 seq=2048
}
