"""The multimodal R-GCN: every node starts from a vector, literal nodes of the enabled modalities
from their content (a per-modality linear projection of simple or pretrained features), all other
nodes from a trainable embedding (featureless R-GCN for them); two relational convolutions of
torch-geometric (basis or block-diagonal decomposition) mix them along typed edges."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import RGCNConv

DECOMPOSITIONS = ("bases", "blocks", "none")
CONVS = ("grouped", "pyg")


class GroupedRGCNConv(RGCNConv):
    """torch-geometric's ``RGCNConv`` (same parameters, initialisation, decompositions and
    mean aggregation) with a forward that groups the work by (target node, relation) pair.

    PyG's forward loops over the relations and, for each, aggregates and multiplies a dense
    ``(num_nodes, channels)`` matrix: cost ~ relations x nodes x in x out, which is most of an
    epoch on a CPU with dozens of edge types. Here the messages are first averaged per pair
    (one ``index_add`` over all edges), then each relation's weight multiplies only the rows of
    the pairs of that relation (pairs sorted by relation, contiguous slices): cost ~ pairs x in x
    out <= edges x in x out. The output equals ``RGCNConv.forward`` (a test checks values and
    gradients against it); float node features only. ``targets`` computes only some nodes' rows
    from the edges into them (the R-GCN's last layer, read at the labelled nodes only)."""

    def _pairs(self, edge_index: torch.Tensor, edge_type: torch.Tensor, num_nodes: int):
        # the grouping is cached for the very tensors it was made from (kept alive by the cache, so
        # their memory cannot be reused by other edges)
        cached = getattr(self, "_pair_key", None)
        if cached is None or cached[0] is not edge_index or cached[1] is not edge_type or cached[2] != num_nodes:
            key = (edge_index, edge_type, num_nodes)
            src, dst = edge_index
            pair = dst * self.num_relations + edge_type
            order = torch.argsort(edge_type * num_nodes + dst, stable=True)  # pairs sorted by relation
            uniq, inverse = torch.unique(pair[order], sorted=False, return_inverse=True)
            # torch.unique sorts anyway; sort pairs by (relation, target) and remap
            rel_of, dst_of = uniq % self.num_relations, uniq // self.num_relations
            perm = torch.argsort(rel_of * num_nodes + dst_of, stable=True)
            rank = torch.empty_like(perm)
            rank[perm] = torch.arange(perm.numel(), device=perm.device)
            pair_of_edge = torch.empty_like(src)
            pair_of_edge[order] = rank[inverse]
            counts = torch.bincount(pair_of_edge, minlength=perm.numel()).clamp(min=1)
            rel_sorted = rel_of[perm]
            sizes = torch.bincount(rel_sorted, minlength=self.num_relations).tolist()
            self._pair_cache = (src, pair_of_edge, counts, dst_of[perm], sizes)
            self._pair_key = key
        return self._pair_cache

    def _target_pairs(self, edge_index: torch.Tensor, edge_type: torch.Tensor, num_nodes: int,
                      targets: torch.Tensor):
        """``_pairs`` cut to the pairs whose target is in ``targets`` (and the edges into them, in
        their order), with targets renumbered by their rank among the distinct ``targets``; cached
        per edge tensors and targets' values (a training run alternates two target sets)."""
        src, pair_of_edge, counts, pair_dst, sizes = self._pairs(edge_index, edge_type, num_nodes)
        cache = getattr(self, "_target_cache", None)
        if cache is None or cache[0] is not self._pair_cache:
            cache = self._target_cache = (self._pair_cache, [])
        for t, value in cache[1]:
            if t.shape == targets.shape and torch.equal(t, targets):
                return value
        uniq, inverse = torch.unique(targets, return_inverse=True)
        pos = torch.full((num_nodes,), -1, dtype=torch.long, device=targets.device)
        pos[uniq] = torch.arange(uniq.numel(), device=targets.device)
        keep = pos[pair_dst] >= 0
        renum = torch.cumsum(keep, 0) - 1
        rel = torch.repeat_interleave(torch.arange(len(sizes), device=keep.device),
                                      torch.as_tensor(sizes, device=keep.device))
        edges = keep[pair_of_edge]
        value = (src[edges], renum[pair_of_edge[edges]], counts[keep], pos[pair_dst[keep]],
                 torch.bincount(rel[keep], minlength=len(sizes)).tolist(), uniq, inverse)
        cache[1][:] = [*cache[1][-3:], (targets.clone(), value)]
        return value

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor,
                targets: torch.Tensor | None = None) -> torch.Tensor:
        """All nodes' outputs, or with ``targets`` (local node indices) only theirs, computed from
        the edges into them alone: ``forward(x, e, t, targets) == forward(x, e, t)[targets]``
        (the same sums in the same order; the other rows are never computed)."""
        if targets is None:
            src, pair_of_edge, counts, pair_dst, sizes = self._pairs(edge_index, edge_type, x.size(0))
            rows_out, root_x, inverse = x.size(0), x, None
        else:
            src, pair_of_edge, counts, pair_dst, sizes, uniq, inverse = self._target_pairs(
                edge_index, edge_type, x.size(0), targets)
            rows_out, root_x = uniq.numel(), x[uniq]
        agg = torch.zeros(counts.numel(), x.size(1), dtype=x.dtype, device=x.device)
        agg = agg.index_add(0, pair_of_edge, x[src]) / counts.unsqueeze(1).to(x.dtype)
        weight = self.weight
        if self.num_bases is not None:
            weight = (self.comp @ weight.view(self.num_bases, -1)).view(
                self.num_relations, self.in_channels_l, self.out_channels)
        parts = []
        for r, rows in enumerate(torch.split(agg, sizes)):
            if rows.numel() == 0:
                continue
            if self.num_blocks is not None:
                h = torch.einsum("abc,bcd->abd", rows.view(-1, weight.size(1), weight.size(2)), weight[r])
                parts.append(h.reshape(-1, self.out_channels))
            else:
                parts.append(rows @ weight[r])
        out = torch.zeros(rows_out, self.out_channels, dtype=x.dtype, device=x.device)
        if parts:
            out = out.index_add(0, pair_dst, torch.cat(parts))
        if self.root is not None:
            out = out + root_x @ self.root
        if self.bias is not None:
            out = out + self.bias
        return out if inverse is None else out[inverse]


class NodeInput(nn.Module):
    """The first-layer input of every node of the (sub)graph.

    ``feature_nodes[m]`` are the local indices of the literal nodes of modality ``m`` whose
    features ``forward`` receives, in that order; those rows are ``proj[m](features[m])``. With
    ``literal_types`` (per node: a literal datatype id, or -1 for IRIs and blank nodes) the other
    literal nodes share one trainable vector per datatype (a literal seen by one entity teaches
    nothing beyond its type, and a vector of its own would only let the model memorise); every
    remaining node has its own trainable embedding."""

    def __init__(self, num_nodes: int, dim: int, feature_nodes: dict[str, torch.Tensor],
                 feature_dims: dict[str, int], dropout: float = 0.0, literal_types: torch.Tensor | None = None):
        super().__init__()
        self.embedding = nn.Embedding(num_nodes, dim)
        nn.init.normal_(self.embedding.weight, std=1.0 / dim ** 0.5)
        self.typed = literal_types is not None and bool((literal_types >= 0).any())
        if self.typed:
            lit = (literal_types >= 0).nonzero().flatten()
            self.register_buffer("lit_idx", lit, persistent=False)
            self.register_buffer("lit_type", literal_types[lit].long(), persistent=False)
            self.type_embedding = nn.Embedding(int(literal_types.max()) + 1, dim)
            nn.init.normal_(self.type_embedding.weight, std=1.0 / dim ** 0.5)
        for m, idx in feature_nodes.items():
            self.register_buffer(f"idx_{m}", idx.long(), persistent=False)
        self.modalities = tuple(sorted(feature_nodes))
        self.proj = nn.ModuleDict({m: nn.Sequential(nn.LayerNorm(feature_dims[m]), nn.Linear(feature_dims[m], dim))
                                   for m in self.modalities})
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.embedding.weight
        if self.typed:
            x = x.index_put((self.lit_idx,), self.type_embedding(self.lit_type))
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
                 num_bases: int = 20, num_blocks: int = 4, dropout: float = 0.2, input_dropout: float = 0.0,
                 conv: str = "grouped", literal_types: torch.Tensor | None = None):
        super().__init__()
        if decomposition not in DECOMPOSITIONS:
            raise ValueError(f"decomposition must be one of {DECOMPOSITIONS}, got {decomposition!r}")
        if conv not in CONVS:
            raise ValueError(f"conv must be one of {CONVS}, got {conv!r}")
        if decomposition == "blocks" and (dim % num_blocks or hidden % num_blocks):
            raise ValueError(f"block decomposition needs dim ({dim}) and hidden ({hidden}) divisible by "
                             f"num_blocks ({num_blocks})")
        kw = {"bases": {"num_bases": num_bases}, "blocks": {"num_blocks": num_blocks}, "none": {}}[decomposition]
        self.input = NodeInput(num_nodes, dim, feature_nodes, feature_dims, input_dropout, literal_types)
        Conv = GroupedRGCNConv if conv == "grouped" else RGCNConv
        self.conv1 = Conv(dim, hidden, num_relations, aggr="mean", **kw)
        self.conv2 = Conv(hidden, hidden, num_relations, aggr="mean", **kw)
        self.head = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: dict[str, torch.Tensor], edge_index: torch.Tensor, edge_type: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        """Logits of the ``targets`` (local node indices)."""
        h = self.input(features)
        h = self.dropout(torch.relu(self.conv1(h, edge_index, edge_type)))
        if isinstance(self.conv2, GroupedRGCNConv):  # the last layer only where the logits are read
            h = torch.relu(self.conv2(h, edge_index, edge_type, targets=targets))
        else:
            h = torch.relu(self.conv2(h, edge_index, edge_type))[targets]
        return self.head(self.dropout(h))
