"""The export format between a sandboxed run and the study process (research_harness/
sandbox/graph.py): every built-in idea round-trips bit-identically on CPU and passes the leak
probe, and each attack on the parent's side is refused with a reason, before torch's
deserializer could act on it."""

from __future__ import annotations

import copy
import json
import os
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save as save_safetensors

import trainer.ideas
from research_harness.sandbox import graph as G
from trainer.config import resolve_preset
from trainer.ideas import discover_ideas
from trainer.ideas.base import extend_module
from trainer.model import GPT

BUILTIN_IDEAS = sorted(name for name, idea in discover_ideas().items()
                       if Path(idea.source_file).parent == Path(trainer.ideas.__file__).parent)
MAX_BYTES = 64 * 2**20


def build(idea_name: str | None = None, mixin: type | None = None, target: str = "model"):
    """A tiny model built as TrainingSession builds one, then its weights moved off the
    initialisation: zero-initialised output projections make every block the identity,
    and the leak probe would then see nothing a trained model could do."""
    preset = resolve_preset("tiny", "cpu")
    idea = discover_ideas()[idea_name] if idea_name else None
    if idea:
        idea.configure(preset.model, preset.train)
    torch.manual_seed(0)
    model = GPT(preset.model)
    if idea:
        idea.patch_model(model)
    model.init_weights(42)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    if mixin is not None:
        extend_module(model if target == "model" else model.blocks[0].attn, mixin)
    return model, preset


@pytest.fixture(scope="module")
def windows(corpus):
    """Real validation windows shaped like tiny's evaluation batch."""
    preset = resolve_preset("tiny", "cpu")
    B, T = preset.train.batch_size, preset.model.seq_len
    return torch.from_numpy(corpus.val[: B * T].astype("int64")).view(B, T)


def export_roundtrip(model, preset, folder: Path, stem: str = "eval-0"):
    """Sandbox side, then the parent's: write the two files, read them back the safe way."""
    graph, weights = G.export_for_eval(model, preset.train.batch_size, preset.model.seq_len, "cpu")
    G.write_export(folder, stem, graph, weights)
    assert sorted(os.listdir(folder)) == [f"{stem}.graph.json", f"{stem}.weights.safetensors"]
    return (G.read_limited(folder, f"{stem}.graph.json", MAX_BYTES),
            G.read_limited(folder, f"{stem}.weights.safetensors", MAX_BYTES))


@pytest.fixture(scope="module")
def gpt_export(tmp_path_factory):
    """The plain GPT's export (graph JSON bytes, weights bytes), shared by the attacks."""
    model, preset = build()
    return export_roundtrip(model, preset, tmp_path_factory.mktemp("export"))


def edited(graph_bytes: bytes, edit) -> bytes:
    doc = json.loads(graph_bytes)
    edit(doc)
    return json.dumps(doc).encode()


def nodes(doc) -> list[dict]:
    return doc["graph_module"]["graph"]["nodes"]


def first(doc, op: str) -> dict:
    return next(n for n in nodes(doc) if n["target"] == f"torch.ops.aten.{op}")


# -- honest exports -----------------------------------------------------------------------------


@pytest.mark.parametrize("idea_name", [None, *BUILTIN_IDEAS])
def test_export_round_trip_equals_eager_and_is_causal(idea_name, windows, tmp_path):
    model, preset = build(idea_name)
    forward = G.load_export(*export_roundtrip(model, preset, tmp_path), "cpu")
    assert model.training, "export_for_eval restores train mode"
    model.eval()
    with torch.no_grad():
        eager = model(windows)
    logits = forward(windows)
    diff = (logits - eager).abs().max().item()
    assert torch.equal(logits, eager), f"{idea_name or 'gpt'}: export differs from eager by {diff:.3g}"
    assert G.causality_problem(forward, windows, atol=G.CPU_ATOL) is None


def test_allow_list_is_functional_aten_only():
    assert all(name.startswith("torch.ops.aten.") for name in G.ALLOWED_OPERATORS)
    assert not any(op._schema.is_mutable for op in G.ALLOWED_OPERATORS.values())
    for banned in ("bernoulli.default", "dropout.default", "native_dropout.default", "rand.default",
                   "randn_like.default", "normal.Tensor_float", "multinomial.default", "randperm.default",
                   "empty.memory_format", "add_.Tensor"):
        assert f"torch.ops.aten.{banned}" not in G.ALLOWED_OPERATORS


def test_export_input_of_wrong_shape_is_an_error(gpt_export, windows):
    forward = G.load_export(*gpt_export, "cpu")
    with pytest.raises(ValueError, match="shape"):
        forward(windows[:2])


def test_free_text_metadata_is_dropped(gpt_export):
    graph, weights = gpt_export
    assert b"stack_trace" in graph and b"nn_module_stack" in graph  # torch writes them ...

    def plant(doc):
        for n in nodes(doc):
            n["metadata"]["source_fn_stack"] = "x,torch.load"
            n["metadata"]["custom"] = "{not json"
    forward = G.load_export(edited(graph, plant), weights, "cpu")  # ... the parent never reads them
    assert forward is not None


# -- refusals: operators --------------------------------------------------------------------------


@pytest.mark.parametrize("target, reason", [
    ("torch.ops.aten.bernoulli.default", "draws random numbers"),
    ("torch.ops.aten.native_dropout.default", "draws random numbers"),
    ("torch.ops.evil.exfiltrate.default", "not an aten operator"),
    ("torch.load", "not an aten operator"),
    ("_operator.getitem", "not an aten operator"),
    ("torch.ops.higher_order.cond", "higher-order op"),
    ("torch.ops.aten.relu_.default", "in-place"),
    ("torch.ops.aten.empty.memory_format", "not on the allow-list"),
])
def test_refuses_operator_not_on_the_allow_list(gpt_export, target, reason):
    graph, weights = gpt_export

    def swap(doc):
        first(doc, "relu.default")["target"] = target
    with pytest.raises(G.GraphRefused, match=reason):
        G.load_export(edited(graph, swap), weights, "cpu")


def test_refuses_attention_dropout(gpt_export):
    graph, weights = gpt_export

    def dropout(doc):
        for inp in first(doc, "scaled_dot_product_attention.default")["inputs"]:
            if inp["name"] == "dropout_p":
                inp["arg"] = {"as_float": 0.1}
    with pytest.raises(G.GraphRefused, match="dropout"):
        G.load_export(edited(graph, dropout), weights, "cpu")


# -- refusals: the graph's structure ----------------------------------------------------------------


def _huge_full(doc):
    """A 4e10-element tensor behind metadata that claims the embedding's [8, 64, 32]."""
    node = first(doc, "embedding.default")
    node["target"] = "torch.ops.aten.full.default"
    node["inputs"] = [{"name": "size", "arg": {"as_ints": [8, 64, 10**8]}, "kind": 1},
                      {"name": "fill_value", "arg": {"as_float": 1.0}, "kind": 1}]


def _second_user_input(doc):
    graph = doc["graph_module"]["graph"]
    graph["inputs"].append({"as_tensor": {"name": "idx2"}})
    graph["tensor_values"]["idx2"] = copy.deepcopy(graph["tensor_values"]["idx"])
    doc["graph_module"]["signature"]["input_specs"].append({"user_input": {"arg": {"as_tensor": {"name": "idx2"}}}})


@pytest.mark.parametrize("edit, reason", [
    (lambda d: d["graph_module"]["graph"]["outputs"].append(dict(d["graph_module"]["graph"]["outputs"][0])),
     "2 outputs"),
    (lambda d: d["graph_module"]["signature"]["output_specs"].append(
        {"user_output": {"arg": {"as_tensor": {"name": "embedding"}}}}), "2 outputs"),
    (_second_user_input, "2 user inputs"),
    (lambda d: d["graph_module"]["signature"]["input_specs"].pop(0), "do not match"),
    (lambda d: d["graph_module"]["signature"]["input_specs"].__setitem__(
        0, {"custom_obj": {"arg": {"name": "p_embed_weight", "class_fqn": "x"}, "custom_obj_name": "o"}}),
     "custom object"),
    (lambda d: d.__setitem__("guards_code", ["__import__('os').system('true')"]), "guard code"),
    (lambda d: d["graph_module"]["graph"]["nodes"][0]["inputs"].append(
        {"name": "g", "arg": {"as_graph": {"name": "g", "graph": {}}}, "kind": 1}), "subgraph"),
    (lambda d: d["graph_module"]["graph"]["nodes"][0].__setitem__("name", "x = open('pwned', 'w'); y"),
     "not a plain identifier"),
    (lambda d: d["graph_module"]["graph"]["nodes"][0]["outputs"][0]["as_tensor"].__setitem__("name", "print"),
     "not a plain identifier"),
    (lambda d: d["graph_module"]["graph"]["nodes"][0].__setitem__("extra", 1), "unexpected field"),
    (lambda d: d["graph_module"]["graph"]["tensor_values"]["idx"]["sizes"].__setitem__(0, {"as_int": 2**40}),
     "over the limit"),
    (lambda d: d["graph_module"]["graph"]["tensor_values"]["idx"]["device"].__setitem__("type", "cuda"),
     "exported for device"),
    (lambda d: d["graph_module"]["graph"]["tensor_values"]["embedding"]["sizes"][2].__setitem__("as_int", 31),
     "declares"),
    (_huge_full, "does not run on its own shapes|over the limit"),
])
def test_refuses_malformed_or_unsafe_graph(gpt_export, edit, reason):
    graph, weights = gpt_export
    with pytest.raises(G.GraphRefused, match=reason):
        G.load_export(edited(graph, edit), weights, "cpu")


def test_refuses_a_model_that_mutates_a_buffer_in_forward(tmp_path):
    class _Counting:
        def hidden_states(self, idx):
            self.calls.add_(1)  # state carried from one evaluation batch to the next
            return super().hidden_states(idx)

    model, preset = build(mixin=_Counting)
    model.register_buffer("calls", torch.zeros(()))
    with pytest.raises(G.GraphRefused, match="writes to buffer 'calls'"):
        G.load_export(*export_roundtrip(model, preset, tmp_path), "cpu")


def test_refuses_symbolic_shapes_before_sympy_sees_them(gpt_export, tmp_path):
    """sympify evals an expression string: the payload would create a marker file."""
    from torch._export.serde import schema
    from torch._export.serde.serialize import ExportedProgramDeserializer, _dict_to_dataclass

    graph, weights = gpt_export
    marker = tmp_path / "sympy-ran"
    payload = f"open({str(marker)!r}, 'w') and 8"

    def inject(doc):
        doc["graph_module"]["graph"]["tensor_values"]["idx"]["sizes"][0] = {
            "as_expr": {"expr_str": payload, "hint": {"as_int": 8}}}
    attack = edited(graph, inject)
    with pytest.raises(G.GraphRefused, match="symbolic shapes"):
        G.load_export(attack, weights, "cpu")
    assert not marker.exists()
    # The same bytes given to torch's deserializer run the payload: the refusal is what stops it.
    try:
        ExportedProgramDeserializer().deserialize(_dict_to_dataclass(schema.ExportedProgram, json.loads(attack)), {}, {})
    except Exception:  # noqa: BLE001 - it may fail after the payload ran; only the marker matters
        pass
    assert marker.exists()


def test_refuses_range_constraints_and_symbolic_arguments(gpt_export):
    graph, weights = gpt_export
    with pytest.raises(G.GraphRefused, match="range constraints"):
        G.load_export(edited(graph, lambda d: d.__setitem__("range_constraints", {"s0": {"min_val": 1, "max_val": 8}})),
                      weights, "cpu")

    def symbolic_view(doc):
        first(doc, "view.default")["inputs"][1]["arg"] = {"as_sym_ints": [{"as_name": "s0"}, {"as_int": 64}]}
    with pytest.raises(G.GraphRefused, match="symbolic value"):
        G.load_export(edited(graph, symbolic_view), weights, "cpu")


# -- refusals: weights and files ------------------------------------------------------------------


def test_refuses_pickles_without_unpickling_them(gpt_export, tmp_path):
    graph, weights = gpt_export
    marker = tmp_path / "unpickled"

    class _Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    planted = pickle.dumps({"embed.weight": _Payload()})
    torch_file = tmp_path / "weights.pt"
    torch.save({"embed.weight": torch.zeros(2)}, torch_file)
    for bad in (planted, torch_file.read_bytes()):
        with pytest.raises(G.GraphRefused, match="not safetensors"):
            G.load_export(graph, bad, "cpu")
        with pytest.raises(G.GraphRefused, match="not UTF-8 JSON"):
            G.load_export(bad, weights, "cpu")
    assert not marker.exists()


def test_refuses_weights_that_do_not_match_the_graph(gpt_export):
    from safetensors.torch import load

    graph, weights = gpt_export
    good = load(weights)
    wrong_shape = {**good, "embed.weight": torch.zeros(4096, 31)}
    wrong_dtype = {**good, "final_norm.weight": good["final_norm.weight"].double()}
    extra = {**good, "smuggled": torch.zeros(3)}
    missing = {k: v for k, v in good.items() if k != "blocks.0.attn.rotary.cos"}
    for bad, reason in ((wrong_shape, r"'embed.weight' is torch.float32 \[4096, 31\] but the graph expects"),
                        (wrong_dtype, "'final_norm.weight' is torch.float64"),
                        (extra, "do(es)? not read, e.g. 'smuggled'"),
                        (missing, "lack 'blocks.0.attn.rotary.cos'")):
        with pytest.raises(G.GraphRefused, match=reason):
            G.load_export(graph, save_safetensors(bad), "cpu")


def test_read_limited_refuses_links_fifos_and_oversize_files(tmp_path):
    (tmp_path / "ok.json").write_bytes(b"{}")
    secret = tmp_path.parent / f"{tmp_path.name}-secret"
    secret.write_text("API_KEY=sk-test")
    os.symlink(secret, tmp_path / "link.json")
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "other.bin").write_bytes(b"{}")
    os.link(tmp_path / "other.bin", tmp_path / "hard.json")
    (tmp_path / "big.json").write_bytes(b"x" * 101)
    assert G.read_limited(tmp_path, "ok.json", 100) == b"{}"
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(G.FileRefused, match="symbolic link"):
            G.read_limited(fd, "link.json", 100)
    finally:
        os.close(fd)
    with pytest.raises(G.FileRefused, match="symbolic link"):
        G.read_limited(tmp_path, "link.json", 100)
    with pytest.raises(G.FileRefused, match="not a regular file"):
        G.read_limited(tmp_path, "fifo.json", 100)  # and returns at once: no writer is waited for
    with pytest.raises(G.FileRefused, match="hard links"):
        G.read_limited(tmp_path, "hard.json", 100)
    with pytest.raises(G.FileRefused, match="over the limit"):
        G.read_limited(tmp_path, "big.json", 100)
    with pytest.raises(G.FileRefused, match="plain file name"):
        G.read_limited(tmp_path, "../" + secret.name, 100)


# -- the leak probe -------------------------------------------------------------------------------


class _NonCausal:
    def attend(self, q, k, v):
        y = F.scaled_dot_product_attention(q, k, v, is_causal=False, enable_gqa=self.n_kv_heads != self.n_heads)
        B, H, T, D = y.shape
        return self.o_proj(y.transpose(1, 2).reshape(B, T, H * D))


class _MixesRows:
    def hidden_states(self, idx):
        h = super().hidden_states(idx)
        return h + 1e-3 * torch.roll(h, 1, dims=0)  # each row sees a little of the previous row


@pytest.mark.parametrize("mixin, target, reason", [
    (_NonCausal, "attention", "the model reads future tokens"),
    (_MixesRows, "model", "the model mixes rows of the batch"),
])
def test_leak_probe_flags_leaking_exports(mixin, target, reason, windows, tmp_path):
    model, preset = build(mixin=mixin, target=target)
    forward = G.load_export(*export_roundtrip(model, preset, tmp_path), "cpu")
    problem = G.causality_problem(forward, windows, atol=G.CPU_ATOL)
    assert problem is not None and problem.startswith(reason), problem
    assert "\n" not in problem
