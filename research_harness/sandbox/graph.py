"""The file format between a sandboxed training run and the study process: a model
exported with `torch.export`, as the export's JSON graph plus safetensors weights, and the
checks the parent makes before it computes val_loss from it.

The sandbox (trusted code, model-written idea) calls `export_for_eval` at each evaluation
point and `write_export`; the parent (the study process) reads the files with
`read_limited`, builds a forward function with `load_export`, probes it with
`causality_problem`, and evaluates it itself. Nothing the sandbox wrote is ever unpickled
and no code the model wrote runs in the parent: the parent runs only aten operators from
an allow-list, on weights it read as plain tensors.

Why each check exists (torch 2.13's deserializer, torch/_export/serde/serialize.py, was
written for trusted files; each item is a way it can be abused or an evaluation forged):

- Pickles. `torch.export.load` and `deserialize_torch_artifact` call
  `torch.load(weights_only=False)` on bytes when the safe load fails: arbitrary code.
  The weights come as safetensors (`safetensors.torch.load`, no pickle) and the
  deserializer is given dicts, never bytes.
- Schema. `_dict_to_dataclass` ignores unknown fields and trusts the rest; the graph is
  checked field by field against the subset a static, functional export produces, and
  anything else is refused rather than guessed.
- sympy. A symbolic size (`as_expr`) reaches `sympy.sympify`, which evals its string:
  "open('x','w')" runs. Any `as_expr`/`expr_str` key anywhere, a symbolic argument
  (`as_name`), a non-empty `range_constraints` or `sym_*_values` is refused before the
  deserializer sees the graph: the export is made at the evaluation batch's static shape.
- Operators. The deserializer resolves a target by walking attributes of `torch`, `math`
  or `operator` and builds a call to whatever it finds (`torch.load`, `torch.save`, ...); a
  higher-order op carries subgraphs. Every node's target must be in `ALLOWED_OPERATORS`:
  aten operators only, functional (no in-place or out= variants, checked against each
  schema at import), no random numbers (a stochastic forward can be tuned to the
  evaluation, and is not reproducible), no file or process access, no custom namespaces.
  `scaled_dot_product_attention` must have dropout_p = 0. After deserializing, the built
  graph is checked again (only these targets, plus the `getitem` nodes the deserializer
  itself makes for multi-output ops such as chunk).
- Names. The deserializer sets fx node names verbatim and the fx graph module is Python
  source generated from them: a name is code. Every tensor and node name must be a plain
  identifier (not a keyword, builtin or dunder); weight names dotted identifiers.
- Guards. `guards_code` strings are compiled into Python by `ExportedProgram.module()`:
  refused when not empty, and the parent calls the graph module directly, never `module()`.
- Metadata. Free text (stack traces, nn_module_stack, source_fn_stack, custom JSON,
  from_node) is dropped: it names Python objects the deserializer resolves, and nothing
  in the parent needs it. `module_call_graph` (pytree specs) is dropped for the same reason.
- Mutation. `export_for_eval` functionalizes the export (an empty decomposition table:
  nothing is decomposed), so a write into a buffer or an input, even through a view, is an
  output spec (BUFFER_MUTATION, USER_INPUT_MUTATION) rather than an in-place op on some
  alias. Any output spec but one USER_OUTPUT is refused, and in-place ops are not on the
  allow-list: evaluation must not carry state from one batch to the next.
- Shapes. The size cap reads the metadata the graph declares; the rebuilt graph is then run
  on fake tensors (no memory, no compute) and every operator's real output must match its
  declared shape and dtype, so a graph cannot hide a huge allocation behind small metadata.
- Signature. Custom objects, effect tokens, subgraphs and non-tensor inputs are refused;
  exactly one user input (int64 tokens [B, T]) and one output (the logits). Every device
  named in the graph must be the parent's device type.
- Weights. The names, shapes and dtypes of the safetensors tensors must equal the graph's
  parameters, buffers and constants: no extra or missing tensor, so nothing unexpected is
  loaded and nothing the graph reads is left to a default.
- Files. `read_limited` opens with O_NOFOLLOW and O_NONBLOCK (a symlink could point at a
  secret or a huge file; a FIFO would block the parent), requires a regular file with one
  link, and caps the size.
- Leaks. `causality_problem` runs the graph on real validation windows: logits of a row
  must not change when later tokens of that row change, nor when other rows change.

Tolerances of the leak probe: on CPU (fp32) the baseline GPT's logits are bit-identical
under both perturbations (measured: a difference of exactly 0 for the GPT and all built-in
ideas, tiny and cpu-small), so `CPU_ATOL` is a margin of 1e-6 over that 0; a row-mixing
term scaled by 1e-3 moves logits by far more. `CUDA_BF16_ATOL` is NOT measured (no GPU where this was written):
measure it on a flag-off run before trusting it.
"""

from __future__ import annotations

import builtins
import json
import keyword
import operator
import os
import re
import stat
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from trainer.atomic import write_atomic

__all__ = ["ALLOWED_OPERATORS", "CPU_ATOL", "CUDA_BF16_ATOL", "FileRefused", "GraphRefused", "Refused",
           "causality_problem", "export_for_eval", "load_export", "read_limited", "write_export"]

# Logits may move this much (absolute) under a perturbation that must not affect them.
CPU_ATOL = 1e-6  # measured: 0.0 for the GPT and all built-in ideas (fp32, tiny and cpu-small)
CUDA_BF16_ATOL = 1e-2  # unmeasured guess (no GPU here): about one bf16 ulp of a logit near 1-2

MAX_NUMEL = 2**31  # per tensor: the parent must not be made to allocate without bound
MAX_NODES = 100_000
MAX_DEPTH = 32  # JSON nesting; a real export nests about 10 deep
GRAPH_SUFFIX, WEIGHTS_SUFFIX = ".graph.json", ".weights.safetensors"


class Refused(ValueError):
    """Something a sandbox returned is refused; the message is one line a model can act on."""


class GraphRefused(Refused):
    pass


class FileRefused(Refused):
    pass


# -- the operator allow-list ---------------------------------------------------------------
# What the exports of the GPT and all 11 built-in ideas use at tiny and cpu-small (measured,
# before and after functionalization: an empty decomposition table keeps the composite ops) ...
_USED_BY_BUILTINS = """
_assert_tensor_metadata.default add.Tensor alias.default cat.default chunk.default div.Tensor
embedding.default linear.default mul.Tensor relu.default reshape.default rms_norm.default
rsub.Scalar scaled_dot_product_attention.default sigmoid.default slice.Tensor square.default
sub.Tensor tanh.default to.dtype transpose.int view.default _unsafe_view.default clone.default
split.Tensor
"""
# ... plus pure, deterministic tensor ops a model-written idea plausibly needs. No random
# numbers (rand*, bernoulli, dropout, normal, uniform, multinomial, randperm), no
# uninitialised memory (empty*), no in-place or out= variants, no I/O.
_PURE_EXTRAS = """
add.Scalar sub.Scalar mul.Scalar div.Scalar div.Tensor_mode rsub.Tensor neg.default
reciprocal.default pow.Tensor_Scalar pow.Tensor_Tensor pow.Scalar sqrt.default rsqrt.default
exp.default log.default log1p.default expm1.default abs.default sign.default clamp.default
clamp.Tensor clamp_min.default clamp_max.default maximum.default minimum.default where.self
where.ScalarOther where.ScalarSelf where.Scalar lerp.Scalar lerp.Tensor
silu.default gelu.default softplus.default leaky_relu.default hardtanh.default erf.default
sin.default cos.default
sum.default sum.dim_IntList mean.default mean.dim amax.default amin.default max.dim min.dim
logsumexp.default var.correction std.correction linalg_vector_norm.default cumsum.default
softmax.int log_softmax.int
matmul.default mm.default bmm.default addmm.default baddbmm.default einsum.default outer.default
layer_norm.default
permute.default t.default unsqueeze.default squeeze.dim squeeze.dims expand.default
flatten.using_ints unflatten.int contiguous.default select.int narrow.default
split_with_sizes.default unbind.int stack.default repeat.default
repeat_interleave.self_int flip.default roll.default index_select.default gather.default
index.Tensor tril.default triu.default detach.default type_as.default _to_copy.default
lift_fresh_copy.default
masked_fill.Scalar masked_fill.Tensor eq.Scalar eq.Tensor ne.Scalar ne.Tensor lt.Scalar
lt.Tensor le.Scalar le.Tensor gt.Scalar gt.Tensor ge.Scalar ge.Tensor logical_not.default
logical_and.default logical_or.default
arange.default arange.start arange.start_step zeros.default ones.default full.default
zeros_like.default ones_like.default full_like.default scalar_tensor.default
new_zeros.default new_ones.default new_full.default
"""


def _build_allow_list() -> dict[str, torch._ops.OpOverload]:
    ops = {}
    for qualified in (_USED_BY_BUILTINS + _PURE_EXTRAS).split():
        name, overload = qualified.split(".")
        packet = getattr(torch.ops.aten, name, None)
        op = getattr(packet, overload, None) if packet is not None else None
        if op is None:  # not in this torch version: then no export of it can use it either
            continue
        # A functional allow-list: an op that writes into an argument would let a graph
        # carry state between evaluation batches.
        if op._schema.is_mutable:
            raise AssertionError(f"aten.{qualified} mutates an argument; it cannot be allow-listed")
        ops[f"torch.ops.aten.{qualified}"] = op  # the serializer's spelling of a target
    return ops


ALLOWED_OPERATORS: dict[str, torch._ops.OpOverload] = _build_allow_list()
_ALLOWED_TARGETS = set(ALLOWED_OPERATORS.values())
_RANDOM = re.compile(r"rand|bernoulli|dropout|normal|uniform|multinomial|exponential|poisson|cauchy|geometric")

# -- sandbox side ----------------------------------------------------------------------------


def export_for_eval(model: torch.nn.Module, batch_size: int, seq_len: int,
                    device: str | torch.device) -> tuple[bytes, dict[str, torch.Tensor]]:
    """The model's logits path, exported at the evaluation batch's static shape: the graph as
    the export's JSON and the weights as a flat dict of contiguous CPU tensors.

    Functionalized but not decomposed: the composite ops (linear, rms_norm, SDPA) run the
    same kernels as eager, so on CPU the parent's logits equal the in-process ones bit for
    bit (measured on the GPT and all built-in ideas, tiny and cpu-small)."""
    from torch._export.serde.serialize import serialize  # noqa: PLC0415

    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(batch_size, seq_len, dtype=torch.long, device=device)
        ep = torch.export.export(model, (x,), strict=False)
        # Functionalize, with an empty decomposition table (nothing is decomposed): the
        # training IR keeps in-place ops, and a write into a buffer (even through a view)
        # is then only visible as an aten.add_ on some alias. Functionalized, every write
        # to state is a BUFFER_MUTATION output the parent can refuse by name, and `x += y`
        # on an intermediate is an ordinary add.
        with warnings.catch_warnings():  # torch's own pytree deprecation notice, not ours to fix
            warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated", category=FutureWarning)
            ep = ep.run_decompositions({})
    finally:
        model.train(was_training)
    # Only the JSON: the state_dict / constants / example_inputs parts are pickles.
    artifact = serialize(ep, serialize_state_dict=False, serialize_constants=False, serialize_example_inputs=False)
    weights = {}
    for spec in ep.graph_signature.input_specs:
        if spec.kind == torch.export.graph_signature.InputKind.USER_INPUT:
            continue
        value = ep.state_dict[spec.target] if spec.target in ep.state_dict else ep.constants.get(spec.target)
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"the exported model holds a {type(value).__name__} named {spec.target!r}; "
                            "only tensors can be returned from the sandbox")
        # A copy: safetensors refuses tensors that share memory (tied or sliced buffers).
        weights[spec.target] = value.detach().to("cpu", copy=True).contiguous()
    return artifact.exported_program, weights


_STEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def write_export(folder: str | Path, stem: str, graph_bytes: bytes, weights: dict[str, torch.Tensor]) -> None:
    """`<stem>.graph.json` and `<stem>.weights.safetensors` directly in `folder`; each written
    to a temporary name and renamed, so a reader never sees half a file."""
    from safetensors.torch import save  # noqa: PLC0415

    if not _STEM.match(stem):
        raise ValueError(f"stem {stem!r} must be a plain file name")
    for suffix, data in ((GRAPH_SUFFIX, graph_bytes), (WEIGHTS_SUFFIX, save(weights))):
        write_atomic(Path(folder) / f"{stem}{suffix}", data)


# -- parent side: reading files -------------------------------------------------------------


def read_limited(dir_fd_or_folder: int | str | Path, name: str, max_bytes: int) -> bytes:
    """The bytes of regular file `name` in a folder (an open directory fd or a path), at most
    `max_bytes`. Refuses symlinks, FIFOs, devices, hard links and folders in the name."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise FileRefused(f"{name!r} is not a plain file name")
    own_fd = None
    if not isinstance(dir_fd_or_folder, int):
        try:
            own_fd = os.open(dir_fd_or_folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise FileRefused(f"the folder of {name} cannot be opened: {exc.strerror}") from exc
    dir_fd = own_fd if own_fd is not None else dir_fd_or_folder
    try:
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer.
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError as exc:
            try:
                is_link = stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
            except OSError:
                is_link = False
            if is_link:
                raise FileRefused(f"{name} is a symbolic link; write a regular file") from exc
            raise FileRefused(f"{name} cannot be opened: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise FileRefused(f"{name} is not a regular file")
            if st.st_nlink != 1:
                raise FileRefused(f"{name} has {st.st_nlink} hard links; write a new file")
            if st.st_size > max_bytes:
                raise FileRefused(f"{name} is {st.st_size} bytes, over the limit of {max_bytes}")
            data = f.read(max_bytes + 1)  # the file may grow after fstat
            if len(data) > max_bytes:
                raise FileRefused(f"{name} is over the limit of {max_bytes} bytes")
            return data
    finally:
        if own_fd is not None:
            os.close(own_fd)


# -- parent side: checking the graph --------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}(\.[A-Za-z0-9_]{1,200}){0,31}$")
_FLOAT_WORDS = ("Infinity", "-Infinity", "NaN")  # how the serializer writes non-finite floats


def _refuse(msg: str):
    raise GraphRefused(msg)


def _name(value, where: str) -> str:
    # fx node names become identifiers in generated Python source: nothing else passes.
    if (not isinstance(value, str) or not _NAME.match(value) or keyword.iskeyword(value)
            or value.startswith("__") or hasattr(builtins, value)):
        _refuse(f"{where}: {str(value)[:60]!r} is not a plain identifier")
    return value


def _fields(obj, allowed: set[str], where: str, required: set[str] = frozenset()) -> dict:
    if not isinstance(obj, dict):
        _refuse(f"{where} is not a JSON object")
    extra = set(obj) - allowed
    if extra:
        _refuse(f"{where} has unexpected field(s) {sorted(extra)[:3]}")
    missing = required - set(obj)
    if missing:
        _refuse(f"{where} lacks field(s) {sorted(missing)[:3]}")
    return obj


def _union(obj, where: str) -> tuple[str, Any]:
    if not isinstance(obj, dict) or len(obj) != 1:
        _refuse(f"{where} is not a one-field JSON object")
    return next(iter(obj.items()))


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_int(v, where: str, lo: int = -(2**63), hi: int = 2**63 - 1) -> int:
    if not _is_int(v) or not lo <= v <= hi:
        _refuse(f"{where}: {str(v)[:40]} is not an integer in range")
    return v


def _check_float(v, where: str):
    if not (_is_int(v) or isinstance(v, float) or v in _FLOAT_WORDS):
        _refuse(f"{where}: {str(v)[:40]} is not a number")


def _prescan(obj) -> None:
    """Before anything else: no symbolic expression anywhere (sympify evals strings), and a
    bounded nesting depth (the deserializer recurses)."""
    stack = [(obj, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            _refuse(f"the graph JSON nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("as_expr", "expr_str"):
                    _refuse("the graph has symbolic shapes; export at the evaluation batch's static shape")
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


class _Checker:
    """Validates the exported_program JSON and returns a sanitized copy for torch."""

    def __init__(self, device: torch.device):
        from torch._export.serde import schema  # noqa: PLC0415
        from torch._export.serde.serialize import _SERIALIZE_TO_TORCH_DTYPE  # noqa: PLC0415

        self.schema = schema
        self.dtypes = {int(k): v for k, v in _SERIALIZE_TO_TORCH_DTYPE.items()}
        self.device = device
        self.tensor_names: set[str] = set()

    def device_field(self, d, where: str) -> dict:
        _fields(d, {"type", "index"}, where, {"type"})
        if d["type"] != self.device.type or not (d.get("index") is None or _is_int(d["index"])):
            _refuse(f"{where}: the graph was exported for device {d.get('type')!r}, evaluated on {self.device.type!r}")
        return {"type": d["type"], "index": d.get("index")}

    def tensor_meta(self, m, where: str) -> dict:
        _fields(m, {"dtype", "sizes", "requires_grad", "device", "strides", "storage_offset", "layout"}, where,
                {"dtype", "sizes", "requires_grad", "device", "strides", "storage_offset", "layout"})
        if not _is_int(m["dtype"]) or m["dtype"] not in self.dtypes:
            _refuse(f"{where}: unknown dtype {str(m['dtype'])[:20]}")
        if m["layout"] != int(self.schema.Layout.Strided):
            _refuse(f"{where}: only strided (dense) tensors are accepted")
        if not isinstance(m["requires_grad"], bool):
            _refuse(f"{where}: requires_grad is not a boolean")
        dims = []
        for key in ("sizes", "strides"):
            if not isinstance(m[key], list) or len(m[key]) > 8:
                _refuse(f"{where}: {key} is not a list of at most 8 dimensions")
            for v in m[key]:
                tag, value = _union(v, where)
                if tag != "as_int":  # as_expr was refused in the prescan
                    _refuse(f"{where}: symbolic {key}")
                _check_int(value, where, 0, 2**40)
            dims.append([v["as_int"] for v in m[key]])
        numel = 1
        for s in dims[0]:
            numel *= s
        if numel > MAX_NUMEL:
            _refuse(f"{where}: a tensor of {numel} elements is over the limit of {MAX_NUMEL}")
        tag, value = _union(m["storage_offset"], where)
        if tag != "as_int":
            _refuse(f"{where}: symbolic storage offset")
        _check_int(value, where, 0, 2**40)
        return {**m, "device": self.device_field(m["device"], where)}

    def tensor_ref(self, t, where: str) -> dict:
        _fields(t, {"name"}, where, {"name"})
        return {"name": _name(t["name"], where)}

    def argument(self, arg, where: str) -> dict:
        tag, v = _union(arg, where)
        if tag == "as_none":
            ok = isinstance(v, bool)
        elif tag == "as_tensor":
            return {tag: self.tensor_ref(v, where)}
        elif tag == "as_tensors":
            ok = isinstance(v, list)
            return {tag: [self.tensor_ref(t, where) for t in v]} if ok else _refuse(f"{where}: bad {tag}")
        elif tag in ("as_optional_tensors", "as_optional_tensor"):
            items = v if tag == "as_optional_tensors" else [v]
            if not isinstance(items, list):
                _refuse(f"{where}: bad {tag}")
            out = []
            for item in items:
                t, x = _union(item, where)
                if t == "as_none":
                    out.append({"as_none": bool(x)})
                elif t == "as_tensor":
                    out.append({"as_tensor": self.tensor_ref(x, where)})
                else:
                    _refuse(f"{where}: bad {tag}")
            return {tag: out if tag == "as_optional_tensors" else out[0]}
        elif tag in ("as_int", "as_scalar_type", "as_memory_format"):
            ok = _is_int(v) and -(2**63) <= v < 2**63
            if tag == "as_scalar_type":
                ok = ok and v in self.dtypes
        elif tag == "as_layout":
            ok = v == int(self.schema.Layout.Strided)
        elif tag == "as_ints":
            ok = isinstance(v, list) and len(v) <= 64 and all(_is_int(x) and -(2**63) <= x < 2**63 for x in v)
        elif tag == "as_float":
            _check_float(v, where)
            ok = True
        elif tag == "as_floats":
            ok = isinstance(v, list) and len(v) <= 64
            for x in v if ok else ():
                _check_float(x, where)
        elif tag == "as_bool":
            ok = isinstance(v, bool)
        elif tag == "as_bools":
            ok = isinstance(v, list) and len(v) <= 64 and all(isinstance(x, bool) for x in v)
        elif tag == "as_string":
            ok = isinstance(v, str) and len(v) <= 64  # e.g. rounding_mode, gelu's approximate
        elif tag == "as_device":
            return {tag: self.device_field(v, where)}
        elif tag in ("as_sym_int", "as_sym_float", "as_sym_bool"):
            inner, x = _union(v, where)
            if inner == "as_name":
                _refuse(f"{where}: a symbolic value; export at the evaluation batch's static shape")
            ok = inner == tag.replace("as_sym_", "as_") and (_is_int(x) if inner == "as_int" else
                                                              isinstance(x, bool) if inner == "as_bool" else True)
            if inner == "as_float":
                _check_float(x, where)
        elif tag in ("as_sym_ints", "as_sym_floats", "as_sym_bools"):
            if not isinstance(v, list) or len(v) > 64:
                _refuse(f"{where}: bad {tag}")
            return {tag: [next(iter(self.argument({tag[:-1]: x}, where).values())) for x in v]}
        elif tag == "as_graph":
            _refuse(f"{where}: a subgraph argument (higher-order op) is not allowed")
        elif tag == "as_custom_obj":
            _refuse(f"{where}: custom objects are not allowed")
        elif tag == "as_operator":
            _refuse(f"{where}: an operator passed as an argument is not allowed")
        else:
            _refuse(f"{where}: argument kind {str(tag)[:40]!r} is not accepted")
        if not ok:
            _refuse(f"{where}: bad {tag} value")
        return {tag: v}

    def node(self, n, index: int) -> dict:
        where = f"node {index}"
        _fields(n, {"target", "inputs", "outputs", "metadata", "is_hop_single_tensor_return", "name"}, where,
                {"target", "inputs", "outputs"})
        target = n["target"]
        if not isinstance(target, str):
            _refuse(f"{where}: target is not a string")
        if target not in ALLOWED_OPERATORS:
            short = target.removeprefix("torch.ops.")[:80]
            op_name = short.split(".")[1] if short.count(".") >= 2 else short
            if target.startswith("torch.ops.higher_order."):
                _refuse(f"{where}: {short} is a higher-order op; only plain aten operators are allowed")
            if not target.startswith("torch.ops.aten."):
                _refuse(f"{where}: {short} is not an aten operator; custom and non-aten ops are not allowed")
            if _RANDOM.search(op_name):
                _refuse(f"{where}: {short} draws random numbers; evaluation must be deterministic")
            if op_name.endswith("_") or short.endswith((".out", "_out")):
                _refuse(f"{where}: {short} is an in-place operator; evaluation graphs must be functional")
            _refuse(f"{where}: operator {short} is not on the allow-list ({len(ALLOWED_OPERATORS)} aten ops)")
        if n.get("name") is not None:
            _name(n["name"], where)
        if not isinstance(n["inputs"], list) or not isinstance(n["outputs"], list):
            _refuse(f"{where}: inputs and outputs must be lists")
        inputs = []
        for inp in n["inputs"]:
            _fields(inp, {"name", "arg", "kind"}, where, {"name", "arg"})
            if not isinstance(inp["name"], str) or not _NAME.match(inp["name"]):
                _refuse(f"{where}: argument name {str(inp['name'])[:40]!r} is not an identifier")
            if inp.get("kind") not in (None, 1, 2):
                _refuse(f"{where}: bad argument kind")
            arg = self.argument(inp["arg"], f"{where} ({short_target(target)} {inp['name']})")
            if (target == "torch.ops.aten.scaled_dot_product_attention.default" and inp["name"] == "dropout_p"
                    and arg != {"as_float": 0.0} and arg != {"as_float": 0}):
                _refuse(f"{where}: attention with dropout draws random numbers; use dropout_p=0 in evaluation")
            inputs.append({"name": inp["name"], "arg": arg, "kind": inp.get("kind")})
        outputs = []
        for out in n["outputs"]:
            tag, _ = _union(out, where)
            if tag not in ("as_tensor", "as_tensors", "as_none"):
                _refuse(f"{where}: output kind {str(tag)[:40]!r} is not accepted")
            outputs.append(self.argument(out, where))
        # Free-text metadata dropped (see the module docstring).
        return {"target": target, "inputs": inputs, "outputs": outputs, "metadata": {},
                "is_hop_single_tensor_return": None, "name": n.get("name")}

    def graph(self, g) -> dict:
        keys = {"inputs", "outputs", "nodes", "tensor_values", "sym_int_values", "sym_bool_values",
                "is_single_tensor_return", "custom_obj_values", "sym_float_values"}
        _fields(g, keys, "the graph", {"inputs", "outputs", "nodes", "tensor_values"})
        for key in ("sym_int_values", "sym_bool_values", "sym_float_values"):
            if g.get(key):
                _refuse("the graph has symbolic values; export at the evaluation batch's static shape")
        if g.get("custom_obj_values"):
            _refuse("the graph uses custom objects; only tensors are allowed")
        if not isinstance(g["tensor_values"], dict):
            _refuse("the graph's tensor_values are malformed")
        tensor_values = {_name(k, "a tensor"): self.tensor_meta(v, f"tensor {k}") for k, v in g["tensor_values"].items()}
        if not isinstance(g["inputs"], list) or not isinstance(g["outputs"], list):
            _refuse("the graph's inputs or outputs are malformed")
        inputs = []
        for i in g["inputs"]:
            tag, v = _union(i, "a graph input")
            if tag != "as_tensor":
                _refuse(f"a graph input of kind {str(tag)[:40]!r}: only tensors are accepted")
            inputs.append({"as_tensor": self.tensor_ref(v, "a graph input")})
        outputs = []
        for o in g["outputs"]:
            if _union(o, "a graph output")[0] != "as_tensor":
                _refuse("a graph output is not a tensor; the model must return only the logits tensor")
            outputs.append(self.argument(o, "a graph output"))
        is_single = g.get("is_single_tensor_return", False)
        if not isinstance(is_single, bool):
            _refuse("is_single_tensor_return is not a boolean")
        # Nodes are checked after the signature (program()), whose refusals say more.
        return {"inputs": inputs, "outputs": outputs, "nodes": None, "tensor_values": tensor_values,
                "sym_int_values": {}, "sym_bool_values": {}, "is_single_tensor_return": is_single,
                "custom_obj_values": {}, "sym_float_values": {}}

    def signature(self, sig, graph: dict) -> dict:
        _fields(sig, {"input_specs", "output_specs"}, "the signature", {"input_specs", "output_specs"})
        specs = sig["input_specs"]
        if not isinstance(specs, list) or len(specs) != len(graph["inputs"]):
            _refuse("the signature's inputs do not match the graph's")
        clean_inputs, users = [], 0
        for spec, graph_input in zip(specs, graph["inputs"]):
            kind, v = _union(spec, "an input spec")
            if kind == "user_input":
                _fields(v, {"arg"}, "a user input", {"arg"})
                tag, ref = _union(v["arg"], "a user input")
                if tag != "as_tensor":
                    _refuse("a non-tensor model input; the model must take only the token tensor")
                arg_name, clean = self.tensor_ref(ref, "a user input")["name"], {"arg": {"as_tensor": {"name": ref["name"]}}}
                users += 1
            elif kind in ("parameter", "buffer", "tensor_constant"):
                target_key = {"parameter": "parameter_name", "buffer": "buffer_name",
                              "tensor_constant": "tensor_constant_name"}[kind]
                allowed = {"arg", target_key} | ({"persistent"} if kind == "buffer" else set())
                _fields(v, allowed, f"a {kind} spec", allowed)
                arg_name = self.tensor_ref(v["arg"], f"a {kind} spec")["name"]
                if not isinstance(v[target_key], str) or not _DOTTED.match(v[target_key]):
                    _refuse(f"a {kind} name {str(v[target_key])[:60]!r} is not a dotted identifier")
                if kind == "buffer" and not isinstance(v["persistent"], bool):
                    _refuse("a buffer's persistent flag is not a boolean")
                clean = {**v, "arg": {"name": arg_name}}
            elif kind == "custom_obj":
                _refuse("the graph takes a custom object; only tensors are allowed")
            elif kind == "token":
                _refuse("the graph has side-effect tokens; evaluation graphs must be pure")
            else:
                _refuse(f"the graph takes an input of kind {str(kind)[:40]!r}; only the token tensor is allowed")
            if arg_name != graph_input["as_tensor"]["name"]:
                _refuse("the signature's inputs do not match the graph's")
            clean_inputs.append({kind: clean})
        if users != 1:
            _refuse(f"the graph takes {users} user inputs; the model must take exactly one (the tokens)")
        outs = sig["output_specs"]
        if not isinstance(outs, list):
            _refuse("the signature's outputs are malformed")
        for spec in outs:
            kind, v = _union(spec, "an output spec")
            if kind == "buffer_mutation":
                _refuse(f"forward writes to buffer {str(v.get('buffer_name'))[:60]!r}; "
                        "evaluation must not change the model's state")
            if kind == "user_input_mutation":
                _refuse("forward writes to its input tensor; evaluation must not change its inputs")
            if kind == "parameter_mutation":
                _refuse(f"forward writes to parameter {str(v.get('parameter_name'))[:60]!r}; "
                        "evaluation must not change the model's state")
            if kind != "user_output":
                _refuse(f"the graph has an output of kind {str(kind)[:40]!r}; only the logits are allowed")
        for n in (len(outs), len(graph["outputs"])):
            if n != 1:
                _refuse(f"the graph has {n} outputs; the model must return only the logits tensor")
        _, v = _union(outs[0], "an output spec")
        _fields(v, {"arg"}, "the user output", {"arg"})
        out = self.argument(v["arg"], "the user output")
        if graph["outputs"] != [out]:
            _refuse("the signature's output does not match the graph's")
        return {"input_specs": clean_inputs, "output_specs": [{"user_output": {"arg": out}}]}

    def program(self, d) -> dict:
        top = {"graph_module", "opset_version", "range_constraints", "schema_version", "verifiers",
               "torch_version", "guards_code"}
        _fields(d, top, "the exported program", {"graph_module", "opset_version", "range_constraints", "schema_version"})
        if d["range_constraints"] != {}:
            _refuse("the graph has range constraints (symbolic shapes); export at a static shape")
        if d.get("guards_code", []) != []:
            _refuse("the graph carries guard code (Python source), which is not accepted")
        if d.get("verifiers", []) != ["ATEN"]:  # what a functionalized export names
            _refuse("the graph is not a functional (ATEN dialect) export; export with export_for_eval")
        ov = d["opset_version"]
        if not isinstance(ov, dict) or set(ov) - {"aten"} or not all(_is_int(v) for v in ov.values()):
            _refuse("the graph's opset_version is malformed")
        sv = _fields(d["schema_version"], {"major", "minor"}, "schema_version", {"major", "minor"})
        if sv["major"] != self.schema.SCHEMA_VERSION[0] or not _is_int(sv["minor"]):
            _refuse(f"the graph's schema version {str(sv['major'])[:10]} is not {self.schema.SCHEMA_VERSION[0]}")
        if not isinstance(d.get("torch_version", ""), str) or len(d.get("torch_version", "")) > 64:
            _refuse("the graph's torch_version is malformed")
        gm = _fields(d["graph_module"], {"graph", "signature", "module_call_graph", "metadata",
                                         "treespec_namedtuple_fields"}, "the graph module", {"graph", "signature"})
        if gm.get("treespec_namedtuple_fields"):
            _refuse("the graph's outputs are namedtuples; return the logits tensor")
        graph = self.graph(gm["graph"])
        signature = self.signature(gm["signature"], graph)
        if not isinstance(gm["graph"]["nodes"], list) or len(gm["graph"]["nodes"]) > MAX_NODES:
            _refuse("the graph's nodes are malformed")
        graph["nodes"] = [self.node(n, i) for i, n in enumerate(gm["graph"]["nodes"])]
        return {"graph_module": {"graph": graph, "signature": signature,
                                 # Dropped: pytree specs and submodule names, only used by module().
                                 "module_call_graph": [], "metadata": {}, "treespec_namedtuple_fields": {}},
                "opset_version": dict(ov), "range_constraints": {}, "schema_version": dict(sv),
                "verifiers": list(d.get("verifiers", [])), "torch_version": d.get("torch_version", ""),
                "guards_code": []}


def short_target(target: str) -> str:
    return target.removeprefix("torch.ops.")[:60]


def load_export(graph_bytes: bytes, weights_bytes: bytes, device: str | torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function tokens [B, T] int64 -> logits [B, T, V], run on `device`, from the bytes of a
    `<stem>.graph.json` and a `<stem>.weights.safetensors`; `GraphRefused` with a one-line
    reason when anything is not as an honest export of a static, functional model makes it."""
    from safetensors import SafetensorError  # noqa: PLC0415
    from safetensors.torch import load as load_safetensors  # noqa: PLC0415
    from torch._export.serde import schema  # noqa: PLC0415
    from torch._export.serde.serialize import ExportedProgramDeserializer, _dict_to_dataclass  # noqa: PLC0415

    device = torch.device(device)
    if not isinstance(graph_bytes, bytes) or not isinstance(weights_bytes, bytes):
        _refuse("the graph and the weights must be bytes")
    try:
        raw = json.loads(graph_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        _refuse("the graph file is not UTF-8 JSON (a pickle or torch.save file is not accepted)")
    _prescan(raw)
    checker = _Checker(device)
    try:
        clean = checker.program(raw)
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001 - a value of an unexpected type deep inside: still a refusal
        _refuse(f"the graph JSON is malformed ({type(exc).__name__}); write it with export_for_eval")

    try:
        weights = load_safetensors(weights_bytes)
    except (SafetensorError, ValueError, OSError, RuntimeError) as exc:
        _refuse(f"the weights file is not safetensors (a pickle or torch.save file is not accepted): {str(exc)[:80]}")
    state_dict, constants, order = {}, {}, []
    tensor_values = clean["graph_module"]["graph"]["tensor_values"]
    for spec in clean["graph_module"]["signature"]["input_specs"]:
        kind, v = next(iter(spec.items()))
        if kind == "user_input":
            order.append(None)
            meta = tensor_values.get(v["arg"]["as_tensor"]["name"])
            if meta is None or checker.dtypes[meta["dtype"]] != torch.long or len(meta["sizes"]) != 2:
                _refuse("the model's input is not an int64 [batch, seq_len] token tensor")
            input_shape = tuple(s["as_int"] for s in meta["sizes"])
            continue
        name = v.get("parameter_name") or v.get("buffer_name") or v.get("tensor_constant_name")
        if name not in weights:
            _refuse(f"the weights lack {name!r}, which the graph reads")
        t, meta = weights[name], tensor_values.get(v["arg"]["name"])
        if meta is None:
            _refuse(f"the graph has no tensor metadata for {name!r}")
        want_shape = [s["as_int"] for s in meta["sizes"]]
        if list(t.shape) != want_shape or t.dtype != checker.dtypes[meta["dtype"]]:
            _refuse(f"weight {name!r} is {t.dtype} {list(t.shape)} but the graph expects "
                    f"{checker.dtypes[meta['dtype']]} {want_shape}")
        if name in state_dict or name in constants:
            _refuse(f"the graph reads {name!r} twice")
        t = t.to(device)
        if kind == "parameter":
            state_dict[name] = torch.nn.Parameter(t, requires_grad=False)
        elif kind == "buffer" and v["persistent"]:
            state_dict[name] = t
        else:
            constants[name] = t
        order.append(name)
    extra = set(weights) - set(state_dict) - set(constants)
    if extra:
        _refuse(f"the weights have {len(extra)} tensor(s) the graph does not read, e.g. {sorted(extra)[0][:60]!r}")

    try:
        program = _dict_to_dataclass(schema.ExportedProgram, clean)
        ep = ExportedProgramDeserializer().deserialize(program, state_dict, constants, None)
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed graph is refused, whatever torch says about it
        _refuse(f"torch cannot rebuild the graph: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}")
    gm = ep.graph_module
    # Defence in depth: what torch built holds only allow-listed calls (and the getitem
    # nodes the deserializer itself makes for multi-output ops).
    for node in gm.graph.nodes:
        if node.op not in ("placeholder", "call_function", "output") or (
                node.op == "call_function" and node.target not in _ALLOWED_TARGETS and node.target is not operator.getitem):
            _refuse(f"the rebuilt graph has a {node.op} node {str(node.target)[:60]}, which is not allowed")
    if any(True for _ in gm.children()):
        _refuse("the rebuilt graph has submodules, which are not allowed")
    lifted = [state_dict.get(n, constants.get(n)) if n is not None else None for n in order]
    user_index = order.index(None)
    _check_shapes(gm, lifted, user_index, input_shape, device)

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.long or tuple(x.shape) != input_shape:
            raise ValueError(f"the export takes int64 tokens of shape {list(input_shape)}, got {x.dtype} {list(x.shape)}")
        args = list(lifted)
        args[user_index] = x.to(device)
        with torch.no_grad():
            out = gm(*args)
        return out[0] if isinstance(out, (tuple, list)) else out

    # The record's parameter counts, as trainer.model.GPT.num_params counts them, from the
    # export itself (the sandbox's own count is only what it says).
    total = sum(t.numel() for t in state_dict.values() if isinstance(t, torch.nn.Parameter))
    embed = state_dict.get("embed.weight")
    forward.parameter_counts = {"total": total, "non_embedding": total - (embed.numel() if embed is not None else 0)}
    return forward


def _check_shapes(gm, lifted: list, user_index: int, input_shape: tuple, device: torch.device) -> None:
    """Runs the graph on fake tensors (no memory, no compute) and compares what each operator
    really produces with the metadata the graph declares: the size cap above reads that
    metadata, and a graph that lies in it (a `full` of 10^10 elements declared as [8]) would
    make the parent allocate without bound."""
    from torch._subclasses.fake_tensor import FakeTensorMode  # noqa: PLC0415
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp  # noqa: PLC0415

    declared = {node: node.meta.get("val") for node in gm.graph.nodes}
    with FakeTensorMode(allow_non_fake_inputs=False) as mode:
        args = [mode.from_tensor(t) if t is not None else torch.empty(input_shape, dtype=torch.long, device=device)
                for t in lifted]
        try:
            FakeTensorProp(gm, mode).propagate_dont_convert_inputs(*args)
        except Exception as exc:  # noqa: BLE001 - operators that cannot run on these shapes
            _refuse(f"the graph does not run on its own shapes: {type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}")
    for node, want in declared.items():
        got = node.meta.get("val")
        for a, b in zip(*(v if isinstance(v, (tuple, list)) else (v,) for v in (got, want))):
            if isinstance(a, torch.Tensor) and (not isinstance(b, torch.Tensor) or a.shape != b.shape or a.dtype != b.dtype):
                _refuse(f"node {node.name}: the graph declares {getattr(b, 'shape', b)} but the operator makes "
                        f"{a.dtype} {list(a.shape)}")
            if isinstance(a, torch.Tensor) and a.numel() > MAX_NUMEL:
                _refuse(f"node {node.name}: a tensor of {a.numel()} elements is over the limit of {MAX_NUMEL}")


# -- parent side: the leak probe ------------------------------------------------------------


@torch.no_grad()
def causality_problem(forward: Callable[[torch.Tensor], torch.Tensor], windows: torch.Tensor, *,
                      atol: float) -> str | None:
    """None when `forward` is causal within each row and keeps rows apart, on real windows
    [B, T] shaped like the evaluation batch; else a one-line reason.

    Rows are tested first: with rows independent, the future test can then change several
    rows at once (each at its own position t) in one forward pass."""
    B, T = windows.shape
    base = forward(windows).float()

    def moved(a, b) -> float:
        return (a.float() - b).abs().max().item() if a.numel() else 0.0

    # Other rows: each target row kept, all other rows replaced by other real windows
    # (rotated among themselves; with one other row, its own tokens rotated in time), and
    # then by their own tokens shifted by one id: a permutation leaves any aggregate over
    # the batch (a mean of the rows' opening tokens, which are the previous rows' last
    # targets) unchanged, a changed token does not (measured: such a model passed the
    # permutation alone and lowered val_loss).
    for r in sorted({0, B // 2}) if B > 1 else []:
        others = [i for i in range(B) if i != r]
        w = windows.clone()
        if len(others) > 1:
            w[others] = windows[others[1:] + others[:1]]
        else:
            w[others] = windows[others].roll(T // 2, dims=1)
        shifted = windows.clone()
        shifted[others] = (windows[others] + 1) % base.size(-1)
        for changed in (w, shifted):
            diff = moved(forward(changed)[r], base[r])
            if not diff <= atol:  # also catches NaN
                return (f"the model mixes rows of the batch: row {r}'s logits changed by {diff:.3g} when the other "
                        f"rows changed (tolerance {atol:g}); each row must be computed from its own tokens only")
    # Later tokens: row i is cut at position t_i; its tokens after t_i come from another window.
    cuts = sorted({0, T // 4, T // 2, (3 * T) // 4, T - 2} - {-1})
    w = windows.clone()
    plan = []
    for i, t in enumerate(cuts[: max(B, 1)]):
        r = i % B
        if t + 1 >= T or any(p[0] == r for p in plan):
            continue
        w[r, t + 1 :] = windows[(r + 1) % B, t + 1 :] if B > 1 else windows[r, t + 1 :].flip(0)
        plan.append((r, t))
    out = forward(w)
    for r, t in plan:
        diff = moved(out[r, : t + 1], base[r, : t + 1])
        if not diff <= atol:
            return (f"the model reads future tokens: row {r}'s logits at positions <= {t} changed by {diff:.3g} when "
                    f"tokens after position {t} changed (tolerance {atol:g}); attention must be causal")
    return None
