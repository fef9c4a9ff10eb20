"""From kgbench triples to what an R-GCN eats: typed edges in both directions, the k-hop
subgraph of the labelled nodes (the subset strategy), and the modality of every literal node."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import kgbench as kb

# Literal datatypes grouped into the modalities the ablation adds one at a time. Datatypes not
# listed here (anyURI, and IRIs / blank nodes) carry no content features: structure only.
MODALITIES: dict[str, tuple[str, ...]] = {
    "image": (kb.IMAGE_DT,),
    "text": (kb.STRING_DT,),
    "numeric": (kb.NNINT_DT, kb.PINT_DT, kb.BOOLEAN_DT),
    "temporal": (kb.GYEAR_DT, kb.DATE_DT),
    "spatial": (kb.WKT_DT,),
}


def modality_of(annotation: str) -> str | None:
    """The modality of a node annotation (a language tag or "none" counts as text)."""
    if annotation.startswith("@") or annotation == "none":
        return "text"
    for name, dts in MODALITIES.items():
        if annotation in dts:
            return name
    return None


def typed_edges(triples: np.ndarray, num_relations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """PyG ``edge_index`` (source, target) and ``edge_type`` for message passing along both
    directions of every triple, as kgbench's ``pyg()``: triple (s, p, o) gives the edge o -> s of
    type 2p (the subject hears its objects, e.g. a monument its literals) and s -> o of type 2p + 1.
    Self-loops are not added: RGCNConv's root weight is the self-connection."""
    t = torch.as_tensor(np.asarray(triples, dtype=np.int64))
    s, p, o = t[:, 0], t[:, 1], t[:, 2]
    edge_index = torch.stack([torch.cat([o, s]), torch.cat([s, o])])
    edge_type = torch.cat([2 * p, 2 * p + 1])
    if len(t) and int(p.max()) >= num_relations:
        raise ValueError(f"relation index {int(p.max())} >= num_relations {num_relations}")
    return edge_index, edge_type


@dataclass
class Subgraph:
    """The nodes within ``hops`` of the labelled nodes, relabelled 0..n-1."""
    nodes: torch.Tensor        # (n,) global node index of each local node
    edge_index: torch.Tensor   # (2, e) local
    edge_type: torch.Tensor    # (e,)
    num_relations: int         # edge types = 2 * kgbench relations

    @property
    def num_nodes(self) -> int:
        return int(self.nodes.numel())

    def local(self, global_idx) -> torch.Tensor:
        """Local indices of global node indices (all must be in the subgraph)."""
        g2l = torch.full((int(self.nodes.max()) + 1,), -1, dtype=torch.long)
        g2l[self.nodes] = torch.arange(self.num_nodes)
        idx = torch.as_tensor(np.asarray(global_idx, dtype=np.int64))
        out = g2l[idx]
        if (out < 0).any():
            raise ValueError("some nodes are not in the subgraph")
        return out


def khop_subgraph(triples: np.ndarray, num_relations: int, num_nodes: int, seeds,
                  hops: int | None) -> Subgraph:
    """The ``hops``-hop neighbourhood (edges taken in both directions) of ``seeds``; ``None``
    keeps the whole graph. Messages of a ``hops``-layer R-GCN to the seeds come only from it, so
    training on it gives exactly the full-graph predictions for the seeds."""
    edge_index, edge_type = typed_edges(triples, num_relations)
    if hops is None:
        return Subgraph(torch.arange(num_nodes), edge_index, edge_type, 2 * num_relations)
    keep = torch.zeros(num_nodes, dtype=torch.bool)
    keep[torch.as_tensor(np.asarray(seeds, dtype=np.int64))] = True
    frontier = keep.clone()
    src, dst = edge_index
    for _ in range(hops):
        reached = torch.zeros(num_nodes, dtype=torch.bool)
        reached[src[frontier[dst]]] = True
        frontier = reached & ~keep
        keep |= reached
    nodes = keep.nonzero().flatten()
    g2l = torch.full((num_nodes,), -1, dtype=torch.long)
    g2l[nodes] = torch.arange(nodes.numel())
    # An edge matters when its target is within hops-1 of a seed; keeping every edge between
    # kept nodes is simpler and gives the same seed outputs.
    mask = keep[src] & keep[dst]
    return Subgraph(nodes, g2l[edge_index[:, mask]], edge_type[mask], 2 * num_relations)


def node_modalities(kg: "kb.KG", nodes: torch.Tensor) -> dict[str, torch.Tensor]:
    """Local indices (into ``nodes``) of the literal nodes of each modality."""
    types = torch.as_tensor(kg.node_type)[nodes]
    out: dict[str, list[int]] = {m: [] for m in MODALITIES}
    for type_id, annotation in enumerate(kg.nodetypes):
        m = modality_of(annotation)
        if m is not None:
            out[m].append(type_id)
    return {m: torch.isin(types, torch.tensor(ids, dtype=types.dtype)).nonzero().flatten()
            for m, ids in out.items()}
