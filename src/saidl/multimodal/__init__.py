"""Multimodal node classification on a kgbench knowledge graph (dmg777k or a synthetic stand-in)."""
