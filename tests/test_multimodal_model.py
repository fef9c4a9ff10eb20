"""The multimodal R-GCN: typed edges, relation-typed message passing against a hand computation,
the k-hop subset strategy, the node input, metrics, the grid and the fine-tuning subset."""

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO
from saidl.common.errors import ConfigError
from saidl.multimodal.graph import khop_subgraph, modality_of, typed_edges
from saidl.multimodal.model import RGCN, NodeInput
from saidl.multimodal.train import scores


def test_typed_edges_run_both_ways_with_kgbench_relation_numbers():
    triples = np.array([[0, 0, 1], [2, 1, 0]])
    edge_index, edge_type = typed_edges(triples, 2)
    edges = {(int(s), int(d), int(t)) for (s, d), t in zip(edge_index.T, edge_type)}
    # (s, p, o): o -> s with type 2p, s -> o with type 2p + 1
    assert edges == {(1, 0, 0), (0, 1, 1), (0, 2, 2), (2, 0, 3)}


def test_relation_typed_message_passing_matches_a_hand_computation():
    """Three nodes, two relations: node 0 -r0-> node 1, node 0 -r1-> node 2, node 2 -r0-> node 1."""
    from torch_geometric.nn import RGCNConv

    torch.manual_seed(0)
    triples = np.array([[0, 0, 1], [0, 1, 2], [2, 0, 1]])
    edge_index, edge_type = typed_edges(triples, 2)
    conv = RGCNConv(2, 3, num_relations=4, aggr="mean")
    x = torch.tensor([[1.0, 2.0], [0.5, -1.0], [-2.0, 0.25]])
    out = conv(x, edge_index, edge_type)
    W, W0, b = conv.weight.detach(), conv.root.detach(), conv.bias.detach()
    # type 0 (r0, o -> s): node 0 hears node 1; node 2 hears node 1.  type 1 (r0 inverse): node 1 hears
    # nodes 0 and 2 (mean).  type 2 (r1, o -> s): node 0 hears node 2.  type 3 (r1 inverse): node 2 hears 0.
    expect = torch.stack([
        x[0] @ W0 + x[1] @ W[0] + x[2] @ W[2],
        x[1] @ W0 + (x[0] + x[2]) / 2 @ W[1],
        x[2] @ W0 + x[1] @ W[0] + x[0] @ W[3],
    ]) + b
    assert torch.allclose(out, expect, atol=1e-6)


def test_two_hop_subgraph_gives_the_full_graph_predictions_of_its_seeds():
    rng = np.random.default_rng(0)
    n, r = 60, 3
    triples = np.stack([rng.integers(0, n, 150), rng.integers(0, r, 150), rng.integers(0, n, 150)], 1)
    seeds = np.array([0, 5, 9])
    full = khop_subgraph(triples, r, n, seeds, None)
    sub = khop_subgraph(triples, r, n, seeds, 2)
    assert sub.num_nodes < n
    torch.manual_seed(0)
    model = RGCN(n, 2 * r, 4, {}, {}, dim=8, hidden=8, num_bases=2, dropout=0.0).eval()
    with torch.no_grad():
        want = model({}, full.edge_index, full.edge_type, torch.as_tensor(seeds))
        small = RGCN(sub.num_nodes, 2 * r, 4, {}, {}, dim=8, hidden=8, num_bases=2, dropout=0.0).eval()
        small.load_state_dict({**model.state_dict(), "input.embedding.weight": model.input.embedding.weight[sub.nodes]})
        got = small({}, sub.edge_index, sub.edge_type, sub.local(seeds))
    assert torch.allclose(want, got, atol=1e-5)


@pytest.mark.parametrize("decomposition", ["bases", "blocks", "none"])
def test_rgcn_decompositions_train_and_block_sizes_are_checked(decomposition):
    edge_index, edge_type = typed_edges(np.array([[0, 0, 1], [1, 1, 2], [3, 0, 2]]), 2)
    model = RGCN(4, 4, 2, {"text": torch.tensor([2, 3])}, {"text": 5}, dim=8, hidden=8,
                 decomposition=decomposition, num_bases=2, num_blocks=4)
    logits = model({"text": torch.randn(2, 5)}, edge_index, edge_type, torch.tensor([0, 1]))
    logits.sum().backward()
    assert logits.shape == (2, 2) and model.input.proj["text"][1].weight.grad is not None
    with pytest.raises(ValueError, match="divisible"):
        RGCN(4, 4, 2, {}, {}, dim=6, hidden=8, decomposition="blocks", num_blocks=4)


def test_node_input_puts_features_on_their_nodes_and_embeddings_elsewhere():
    inp = NodeInput(5, 3, {"image": torch.tensor([1, 4])}, {"image": 2})
    feats = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    x = inp({"image": feats})
    assert torch.equal(x[[0, 2, 3]], inp.embedding.weight[[0, 2, 3]])
    assert torch.allclose(x[[1, 4]], inp.proj["image"](feats))


def test_modalities_of_annotations():
    assert modality_of("@nl") == "text" and modality_of("none") == "text"
    assert modality_of("http://kgbench.info/dt#base64Image") == "image"
    assert modality_of("http://www.w3.org/2001/XMLSchema#gYear") == "temporal"
    assert modality_of("iri") is None and modality_of("http://www.w3.org/2001/XMLSchema#anyURI") is None


def test_scores_accuracy_macro_f1_and_confusion():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 2.0]])
    s = scores(logits, torch.tensor([0, 1, 1, 1]), 2)
    assert s["acc"] == 0.75 and s["confusion"] == [[1, 0], [1, 2]]
    # class 0: precision 1/2, recall 1 -> F1 2/3; class 1: precision 1, recall 2/3 -> F1 0.8
    assert s["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


@pytest.fixture(scope="module")
def mm_cfg():
    return yaml.safe_load((REPO / "tasks/multimodal/config.yaml").read_text())["multimodal"]


def test_grid_has_the_ablation_and_the_decomposition_runs(mm_cfg):
    from saidl.multimodal.grid import job_config, needed_features, run_configs

    runs = run_configs(mm_cfg, "demo")
    sets = mm_cfg["scales"]["demo"]["feature_sets"]
    assert len(runs) == (len(sets) + 1) * len(mm_cfg["scales"]["demo"]["seeds"])
    assert {c["feature_set"] for c in runs.values()} == set(sets)
    assert {c["model"]["decomposition"] for c in runs.values() if c["group"] == "decomposition"} == {"blocks"}
    assert set(needed_features(mm_cfg, "demo")) == {"stats", "bow", "numeric", "temporal", "spatial",
                                                     "effnet-lite0", "minilm"}
    assert job_config(mm_cfg, "demo", "finetune")["features"]["image"] == "effnet-lite0"


def test_grid_errors_name_the_config_entry(mm_cfg):
    from saidl.multimodal.grid import run_configs

    bad = {**mm_cfg, "scales": {"demo": {**mm_cfg["scales"]["demo"], "feature_sets": ["colour"]}}}
    with pytest.raises(ConfigError, match="'colour'.*feature_sets"):
        run_configs(bad, "demo")
    with pytest.raises(ConfigError, match="scale 'tiny'"):
        run_configs(mm_cfg, "tiny")


def test_finetune_subset_is_stratified_and_within_the_split():
    from saidl.multimodal.finetune import stratified

    rows = np.stack([np.arange(100), np.r_[np.zeros(70, int), np.ones(25, int), np.full(5, 2)]], 1)
    got = stratified(rows, 20, np.random.default_rng(0))
    assert len(np.unique(got[:, 0])) == len(got) and set(got[:, 0]) <= set(rows[:, 0])
    assert np.bincount(got[:, 1]).tolist() == [14, 5, 1]


def _random_typed_graph(seed: int, n_triples: int, n: int = 40, r: int = 5):
    """A random graph of n nodes and r relations: n, r and its typed edges (inverses included)."""
    rng = np.random.default_rng(seed)
    triples = np.stack([rng.integers(0, n, n_triples), rng.integers(0, r, n_triples), rng.integers(0, n, n_triples)], 1)
    return (n, r, *typed_edges(triples, r))


@pytest.mark.parametrize("kw", [{"num_bases": 3}, {"num_blocks": 2}, {}])
def test_grouped_rgcnconv_equals_pyg_values_and_gradients(kw):
    from torch_geometric.nn import RGCNConv

    from saidl.multimodal.model import GroupedRGCNConv

    n, r, edge_index, edge_type = _random_typed_graph(1, 120)
    torch.manual_seed(0)
    ref = RGCNConv(6, 4, 2 * r, aggr="mean", **kw).double()
    ours = GroupedRGCNConv(6, 4, 2 * r, aggr="mean", **kw).double()
    ours.load_state_dict(ref.state_dict())
    x1 = torch.randn(n, 6, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    y1, y2 = ref(x1, edge_index, edge_type), ours(x2, edge_index, edge_type)
    assert torch.allclose(y1, y2, atol=1e-12)
    (y1 ** 2).sum().backward()
    (y2 ** 2).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-10)
    for (name, p), q in zip(ref.named_parameters(), ours.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-10), name
    # a second call with other edges must not reuse the first call's grouping
    y3 = ours(x2, edge_index[:, :50].clone(), edge_type[:50].clone())
    assert torch.allclose(y3, ref(x1, edge_index[:, :50], edge_type[:50]), atol=1e-12)


@pytest.mark.parametrize("kw", [{"num_bases": 3}, {"num_blocks": 2}, {}])
def test_grouped_rgcnconv_targets_equal_the_rows_of_all_nodes(kw):
    """The last layer computed at some nodes only (the R-GCN's targets) equals those rows of the
    whole layer, values and gradients, for unsorted targets with repeats, and the cache of the
    target sets never mixes them up."""
    from saidl.multimodal.model import GroupedRGCNConv

    n, r, edge_index, edge_type = _random_typed_graph(2, 150)
    torch.manual_seed(0)
    conv = GroupedRGCNConv(6, 4, 2 * r, aggr="mean", **kw).double()
    x1 = torch.randn(n, 6, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    for targets in (torch.tensor([7, 3, 3, 39, 0, 12]), torch.arange(0, n, 3), torch.tensor([7, 3, 3, 39, 0, 12])):
        x1.grad = x2.grad = None
        conv.zero_grad()
        y1 = conv(x1, edge_index, edge_type)[targets]
        (y1 ** 2).sum().backward()
        g1 = [p.grad.clone() for p in conv.parameters()]
        conv.zero_grad()
        y2 = conv(x2, edge_index, edge_type, targets=targets)
        assert torch.allclose(y1, y2, atol=1e-12)
        (y2 ** 2).sum().backward()
        assert torch.allclose(x1.grad, x2.grad, atol=1e-10)
        for a, b in zip(g1, (p.grad for p in conv.parameters())):
            assert torch.allclose(a, b, atol=1e-10)
