"""The resolved meaning of a mapc source file: what runs (models, workload, parallelism) and where (hardware).

All quantities are SI (bytes, seconds, hertz, joules). These frozen values are the only thing the compiler
sees of the text; nothing downstream re-reads source files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

from mapc.core.errors import Loc
from mapc.core.hardware import Hardware

DTYPE_BYTES: dict[str, float] = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1, "int4": 0.5}

Phase = Literal["prefill", "decode", "forward"]   # forward: CNNs and encoder-only transformers


@dataclass(frozen=True)
class TransformerModel:
    """A decoder (or encoder-only) transformer. `experts > 0` makes the FFN a mixture of experts."""

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int            # grouped-query attention when < heads
    ffn: int                 # FFN inner size (per expert for MoE)
    vocab: int
    dtype: str = "fp16"
    gated_ffn: bool = True   # SwiGLU-style (3 matrices) vs classic 2-matrix FFN
    experts: int = 0         # 0: dense FFN
    top_k: int = 0           # experts active per token (MoE)
    encoder_only: bool = False  # BERT-like: one forward phase, no decode
    max_seq: int = 4096
    loc: Loc | None = field(default=None, compare=False)
    weight_dtype: str | None = None  # weight-only quantisation (e.g. int4 weights, fp16 activations/KV); None = dtype
    # Hugging Face architectures beyond the plain decoder (defaults: none of them, so nothing else changes)
    head_dim_set: int = 0         # attention head width when not hidden / heads (Gemma-2: 256); 0 = hidden // heads
    tied_embeddings: bool = False  # the LM head is the embedding table (GPT-2, Gemma): stored and counted once
    shared_ffn: int = 0           # MoE: FFN inner size of the always-active shared expert(s), summed (Qwen-MoE, DeepSeek)
    dense_layers: int = 0         # MoE: the first N layers have a dense FFN of `dense_ffn` (DeepSeek first_k_dense_replace)
    dense_ffn: int = 0            # their FFN inner size (0 = ffn)
    kv_lora_rank: int = 0         # multi-head latent attention (DeepSeek-V2): KV cached as this latent; 0 = plain MHA/GQA
    q_lora_rank: int = 0          # MLA: low-rank query projection (0 = a direct hidden -> heads x head_dim projection)
    rope_head_dim: int = 0        # MLA: decoupled RoPE key width, part of head_dim and cached beside the latent
    v_head_dim: int = 0           # value head width when not head_dim (MLA); 0 = head_dim
    quant_bits: int = 0           # weight-only quantisation of the blocks' linear layers (AWQ, GPTQ, bitsandbytes)
    quant_group: int = 0          # inputs per quantisation group (one scale and zero point per group and output)
    quant_group_bytes: float = 0.0  # bytes of scale + zero point stored per group

    @property
    def dtype_bytes(self) -> float:
        return DTYPE_BYTES[self.dtype]

    @property
    def weight_dtype_bytes(self) -> float:
        """Bytes per parameter (`weight_dtype` when set, else `dtype`)."""
        return DTYPE_BYTES[self.weight_dtype or self.dtype]

    @property
    def linear_weight_bytes(self) -> float:
        """Bytes per parameter of the blocks' linear layers (attention and FFN projections, experts): quantised
        weights with their group scales and zero points, else `weight_dtype_bytes`. Embeddings, the LM head,
        norms and the MoE router keep `weight_dtype_bytes` (AWQ, GPTQ and bitsandbytes leave them unquantised)."""
        if self.quant_bits:
            return self.quant_bits / 8 + (self.quant_group_bytes / self.quant_group if self.quant_group else 0.0)
        return self.weight_dtype_bytes

    @property
    def head_dim(self) -> int:
        """Query/key width of one head (MLA: the no-RoPE part plus the RoPE part)."""
        return self.head_dim_set or self.hidden // self.heads

    @property
    def value_dim(self) -> int:
        """Value width of one head (`v_head_dim`, else `head_dim`)."""
        return self.v_head_dim or self.head_dim

    @property
    def kv_width(self) -> int:
        """Elements cached per token and layer: K and V of every KV head, or (MLA) the latent plus the RoPE key."""
        if self.kv_lora_rank:
            return self.kv_lora_rank + self.rope_head_dim
        return 2 * self.kv_heads * self.head_dim


@dataclass(frozen=True)
class CNNLayer:
    """One CNN layer. conv: kernel kh x kw, stride, groups; pool: kernel/stride, in_ch == out_ch; fc: in_h=in_w=1."""

    name: str
    kind: Literal["conv", "pool", "fc"]
    in_ch: int
    out_ch: int
    in_h: int
    in_w: int
    kh: int = 1
    kw: int = 1
    stride: int = 1
    pad: int = 0
    groups: int = 1

    @property
    def out_h(self) -> int:
        return (self.in_h + 2 * self.pad - self.kh) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.in_w + 2 * self.pad - self.kw) // self.stride + 1


@dataclass(frozen=True)
class CNNModel:
    name: str
    layers: tuple[CNNLayer, ...]
    dtype: str = "fp16"
    loc: Loc | None = field(default=None, compare=False)

    @property
    def dtype_bytes(self) -> float:
        return DTYPE_BYTES[self.dtype]


GraphOpKind = Literal["gemm", "matmul", "attn_score", "attn_value", "conv", "pool", "norm", "softmax", "elementwise",
                      "embed"]


@dataclass(frozen=True)
class GraphOp:
    """One operator of an imported graph (ONNX), as shapes at the graph's own batch; `mapc.compiler.graph_ops`
    turns it into a priced `Operator` with the FLOP conventions of the other models.

    kind: gemm (activation x weights: M x K @ K x N), matmul (activation x activation, `count` products),
    attn_score / attn_value (the two products of an attention pattern), conv (im2col view: M = N*oh*ow,
    K = cin/groups*kh*kw, N = cout/groups, count = groups, taps = kh*kw), pool (M = N*oh*ow rows of N = C
    channels over a `taps` window), norm, softmax, elementwise (M rows of N elements; `op_type` sets the FLOPs
    per element), embed (M rows of N gathered from a table)."""

    name: str
    op_type: str
    kind: GraphOpKind
    M: int
    K: int
    N: int
    count: int = 1
    taps: int = 1
    weights: int = 0              # parameters the operator reads (weights, biases, scales)
    in_elements: int = 0          # activation elements read
    per_count: bool = False       # more inputs add products (`count`), not rows (`M`): activation x activation


@dataclass(frozen=True)
class GraphLayer:
    """A compute node of the graph (Conv, Gemm/MatMul, pooling, an embedding) with the cheap nodes that follow
    it (activations, norms, residual adds, softmax), in execution order: mapc's unit of segmentation."""

    name: str
    ops: tuple[GraphOp, ...]


@dataclass(frozen=True)
class GraphModel:
    """A model imported from an ONNX file (`model NAME = onnx("file.onnx")`): a list of layers in execution
    order, each with its operators, at the graph's batch `batch` (one request of a workload = one run of the
    graph). `params` counts every floating-point initializer (and weight input); `notes` say what the importer
    assumed (e.g. weights absent: shapes only)."""

    name: str
    layers: tuple[GraphLayer, ...]
    dtype: str = "fp32"
    params: int = 0
    batch: int = 1
    source: str = ""
    notes: tuple[str, ...] = ()
    loc: Loc | None = field(default=None, compare=False)

    @property
    def dtype_bytes(self) -> float:
        return DTYPE_BYTES[self.dtype]


Model = Union[TransformerModel, CNNModel, GraphModel]


@dataclass(frozen=True)
class PhaseSpec:
    """One request phase of one served model.

    prefill: `lengths` are prompt lengths (one entry per request group; a range in the text becomes an even
    spread of lengths). decode: `lengths` are context lengths (KV cache size) at the decode step; `steps` is how
    many decode iterations the graph holds. forward: `lengths` is the sequence length (encoder) or (1,) for CNNs.
    """

    phase: Phase
    batch: int                    # requests (sequences / images) in this phase, over all micro-batches
    lengths: tuple[int, ...]      # per-request-group length; len(lengths) divides into batch evenly or cycles
    steps: int = 1                # decode iterations (decode only)
    width: int = 1                # tokens per sequence per decode step (speculative/parallel decoding)
    loc: Loc | None = field(default=None, compare=False)
    outputs: tuple[int, ...] = ()  # decode: output tokens of request j (it leaves the batch after them); () = steps
    linked: bool = False          # decode: request j continues request j of the serve's prefill (a request mix)


@dataclass(frozen=True)
class ServeSpec:
    """One model served in a workload, with its phases and micro-batch count."""

    model: str
    phases: tuple[PhaseSpec, ...]
    microbatches: int = 1
    loc: Loc | None = field(default=None, compare=False)


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    serves: tuple[ServeSpec, ...]      # several entries = multi-tenant / multi-model
    ttft_slo: float | None = None      # seconds
    tpot_slo: float | None = None      # seconds
    loc: Loc | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ParallelSpec:
    tensor: int | None = None          # tensor-parallel degree: chiplets per stage; None = auto (solver's choice)
    pipeline: int | None = None        # pipeline stages per model replica; None = auto
    data: int | None = None            # data-parallel replicas of each model; None = auto
    placement: Literal["block", "row", "column", "snake"] | None = None  # None = solver's choice
    tp_scheme: Literal["1d", "2d"] | None = None
    pd: Literal["fused", "disaggregated", "auto"] = "fused"
    pd_prefill: int | None = None      # chiplets for prefill when disaggregated
    pd_decode: int | None = None
    segment: int = 1                   # layers per layer segment (task granularity)
    loc: Loc | None = field(default=None, compare=False)
    locs: dict[str, Loc] = field(default_factory=dict, compare=False)  # setting keyword ("tensor", "pd", ...) -> Loc


@dataclass(frozen=True)
class Spec:
    """Everything a source file (and its imports) says."""

    file: str
    models: dict[str, Model]
    workload: WorkloadSpec | None
    parallel: ParallelSpec
    hardware: Hardware | None = None   # the file's hardware block, if it has exactly one in the main file
    hardware_blocks: dict[str, Hardware] = field(default_factory=dict)  # name -> every hardware block seen
    sha256: str = ""                   # SHA-256 of the main file's text (schedule.json records it)
