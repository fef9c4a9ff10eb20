"""The multimodal R-GCN: every node starts from a vector, literal nodes of the enabled modalities
from their content (a per-modality linear projection of simple or pretrained features), all other
nodes from a trainable embedding (featureless R-GCN for them); two relational convolutions of
torch-geometric (basis or block-diagonal decomposition) mix them along typed edges."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import RGCNConv

DECOMPOSITIONS = ("bases", "blocks", "none")


class NodeInput(nn.Module):
    """The first-layer input of every node of the (sub)graph.

    ``feature_nodes[m]`` are the local indices of the literal nodes of modality ``m`` whose
    features ``forward`` receives, in that order; those rows are ``proj[m](features[m])``, every
    other row is the node's own trainable embedding."""

    def __init__(self, num_nodes: int, dim: int, feature_nodes: dict[str, torch.Tensor],
                 feature_dims: dict[str, int], dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(num_nodes, dim)
        nn.init.normal_(self.embedding.weight, std=1.0 / dim ** 0.5)
        for m, idx in feature_nodes.items():
            self.register_buffer(f"idx_{m}", idx.long(), persistent=False)
        self.modalities = tuple(sorted(feature_nodes))
        self.proj = nn.ModuleDict({m: nn.Sequential(nn.LayerNorm(feature_dims[m]), nn.Linear(feature_dims[m], dim))
                                   for m in self.modalities})
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.embedding.weight
        for m in self.modalities:
            idx = getattr(self, f"idx_{m}")
            x = x.index_put((idx,), self.proj[m](self.dropout(features[m])))
        return x


class RGCN(nn.Module):
    """NodeInput -> RGCNConv -> ReLU -> dropout -> RGCNConv -> ReLU -> linear classifier.

    Messages are averaged per relation (1/c_{i,r}, as Schlichtkrull et al.); the root weight is
    the self-connection. ``decomposition`` "bases" shares ``num_bases`` matrices between relation
    types, "blocks" makes every relation's matrix block-diagonal with ``num_blocks`` blocks
    (hidden sizes must divide), "none" gives every relation its own full matrix."""

    def __init__(self, num_nodes: int, num_relations: int, num_classes: int, feature_nodes: dict,
                 feature_dims: dict, dim: int = 32, hidden: int = 32, decomposition: str = "bases",
                 num_bases: int = 20, num_blocks: int = 4, dropout: float = 0.2, input_dropout: float = 0.0):
        super().__init__()
        if decomposition not in DECOMPOSITIONS:
            raise ValueError(f"decomposition must be one of {DECOMPOSITIONS}, got {decomposition!r}")
        if decomposition == "blocks" and (dim % num_blocks or hidden % num_blocks):
            raise ValueError(f"block decomposition needs dim ({dim}) and hidden ({hidden}) divisible by "
                             f"num_blocks ({num_blocks})")
        kw = {"bases": {"num_bases": num_bases}, "blocks": {"num_blocks": num_blocks}, "none": {}}[decomposition]
        self.input = NodeInput(num_nodes, dim, feature_nodes, feature_dims, input_dropout)
        self.conv1 = RGCNConv(dim, hidden, num_relations, aggr="mean", **kw)
        self.conv2 = RGCNConv(hidden, hidden, num_relations, aggr="mean", **kw)
        self.head = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: dict[str, torch.Tensor], edge_index: torch.Tensor, edge_type: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        """Logits of the ``targets`` (local node indices)."""
        h = self.input(features)
        h = self.dropout(torch.relu(self.conv1(h, edge_index, edge_type)))
        h = torch.relu(self.conv2(h, edge_index, edge_type))
        return self.head(self.dropout(h[targets]))
