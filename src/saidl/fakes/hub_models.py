"""Random-weight Hugging Face model snapshots for the rehearsal (``python -m saidl.fakes hub-*``).

Each maker writes, under ``<root>/hub`` (:func:`saidl.fakes.hub.snapshot_dir`), the files that the
real repository holds and that the project's code reads -- ``config.json`` and safetensors weights
of the REAL model class, the real preprocessing config (image size, resampling, mean/std), and a
tokenizer of the real type -- so that ``from_pretrained(repo_id, cache_dir=<root>/hub)`` loads it
with the real classes, offline. Weights are random (seeded, so a remake is identical).

Where the real architecture is too heavy for a few CPU steps in the rehearsal's budget, the class,
the preprocessing, the patch/latent geometry and the output layout are kept and only width/depth
shrink. Every snapshot also holds ``saidl_fake.json``: what it is, the real config values that
differ (``differs``: key -> [real, fake]) and a one-line ``description``. The real repositories
never hold that file; the embedders, the codec and the pretrained DiT append its description to
their own, so a fake is named on every report page that shows what was loaded.

Tokenizers are minimal but valid: a CLIP byte-level BPE (``vocab.json``/``merges.txt`` with the
real special-token ids 49406/49407), a SigLIP sentencepiece ``spiece.model`` (written as protobuf
by hand: the ``sentencepiece`` package is not a dependency), a BERT ``vocab.txt`` for ALIGN.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from saidl.fakes import write_marker
from saidl.fakes.hub import describe, snapshot_dir


CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# A few words to learn the fake BPE merges / WordPiece vocabulary from (any text would do).
_WORDS = ("a photo of the cat dog house tree sky mountain lake forest beach road city street room kitchen "
          "bedroom office church abbey bridge field river snow desert garden park night water people car "
          "building landscape image picture small large red green blue white black one two three").split()


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def _write_stamp(snap: Path, repo_id: str, real: str, differs: dict, note: str = "") -> dict:
    shrunk = ", ".join(f"{k} {r}->{f}" for k, (r, f) in differs.items())
    desc = (f"rehearsal fake of {repo_id}: random weights, real class and preprocessing"
            + (f"; shrunk: {shrunk}" if differs else "; real architecture") + (f"; {note}" if note else ""))
    return write_marker(snap, {"repo_id": repo_id, "real": real, "differs": {k: list(v) for k, v in differs.items()},
                               "description": desc})


def _result(root: Path, snap: Path, info: dict) -> dict:
    return {**describe(root, snap), "repo_id": info["repo_id"], "differs": info["differs"],
            "description": info["description"]}


# --------------------------------------------------------------------------- tokenizers

def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP's reversible byte -> printable character table (256 characters)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def _learn_bpe(words, n_merges: int) -> list[tuple[str, str]]:
    """Deterministic tiny BPE on ``words`` (CLIP style: the last symbol carries ``</w>``)."""
    seqs = [[*w[:-1], w[-1] + "</w>"] for w in words]
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        counts: dict[tuple[str, str], int] = {}
        for s in seqs:
            for pair in zip(s, s[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        new = []
        for s in seqs:
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(s[i] + s[i + 1])
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            new.append(out)
        seqs = new
    return merges


def write_clip_tokenizer(snap: Path, model_max_length: int = 77) -> None:
    """CLIP BPE: vocab.json + merges.txt (+ tokenizer.json, tokenizer_config.json by the real
    ``CLIPTokenizer``); <|startoftext|> = 49406 and <|endoftext|> = 49407 as in the real vocab."""
    from transformers import CLIPTokenizer

    chars = _bytes_to_unicode()
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
    merges = _learn_bpe(_WORDS, 200)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = 49406, 49407
    (snap / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (snap / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tok = CLIPTokenizer(vocab=str(snap / "vocab.json"), merges=str(snap / "merges.txt"))
    tok.model_max_length = model_max_length
    tok.save_pretrained(snap)


def write_bert_vocab(snap: Path, model_max_length: int = 64) -> None:
    """BERT WordPiece vocab.txt in the real layout ([PAD] 0, [unused*], [UNK] 100, [CLS] 101,
    [SEP] 102, [MASK] 103, then characters, words and ## pieces) + the tokenizer's config."""
    from transformers import BertTokenizer

    toks = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789.,!?'-")
    toks += letters + sorted(set(_WORDS)) + [f"##{c}" for c in letters[:26]]
    (snap / "vocab.txt").write_text("".join(t + "\n" for t in toks))
    tok = BertTokenizer(vocab=str(snap / "vocab.txt"), do_lower_case=True)
    tok.model_max_length = model_max_length
    tok.save_pretrained(snap)


def _pb_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _pb_field(num: int, wire: int, payload: bytes | int | float) -> bytes:
    key = _pb_varint((num << 3) | wire)
    if wire == 0:
        return key + _pb_varint(int(payload))
    if wire == 5:
        return key + struct.pack("<f", float(payload))
    return key + _pb_varint(len(payload)) + payload  # wire 2


def spiece_model_bytes(pieces: list[tuple[str, float, int]], unk_id: int, bos_id: int, eos_id: int,
                       pad_id: int) -> bytes:
    """A sentencepiece ``ModelProto`` (unigram): pieces (text, score, type: 1 normal, 2 unknown,
    3 control), trainer spec (model type, vocab size, special ids) and the nmt_nfkc normaliser."""
    body = b""
    for text, score, kind in pieces:
        body += _pb_field(1, 2, _pb_field(1, 2, text.encode()) + _pb_field(2, 5, score) + _pb_field(3, 0, kind))
    trainer = (_pb_field(3, 0, 1) + _pb_field(4, 0, len(pieces)) + _pb_field(40, 0, unk_id)
               + _pb_field(41, 0, bos_id & 0xFFFFFFFFFFFFFFFF) + _pb_field(42, 0, eos_id) + _pb_field(43, 0, pad_id))
    normalizer = (_pb_field(1, 2, b"nmt_nfkc") + _pb_field(3, 0, 1) + _pb_field(4, 0, 1) + _pb_field(5, 0, 1))
    return body + _pb_field(2, 2, trainer) + _pb_field(3, 2, normalizer)


def write_siglip_tokenizer(snap: Path, model_max_length: int = 64) -> None:
    """SigLIP's ``SiglipTokenizer`` files: spiece.model (unigram; <pad> 0, </s> 1, <unk> 2 as
    the real one), tokenizer_config.json and special_tokens_map.json."""
    pieces = [("<pad>", 0.0, 3), ("</s>", 0.0, 3), ("<unk>", 0.0, 2)]
    words = sorted(set(_WORDS))
    pieces += [("▁" + w, -float(i + 1), 1) for i, w in enumerate(words)]
    pieces += [(c, -100.0 - i, 1) for i, c in enumerate("▁abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")]
    (snap / "spiece.model").write_bytes(spiece_model_bytes(pieces, unk_id=2, bos_id=-1, eos_id=1, pad_id=0))
    special = {"eos_token": "</s>", "pad_token": "</s>", "unk_token": "<unk>"}
    (snap / "special_tokens_map.json").write_text(json.dumps(special, indent=1) + "\n")
    (snap / "tokenizer_config.json").write_text(json.dumps(
        {**special, "tokenizer_class": "SiglipTokenizer", "model_max_length": model_max_length,
         "do_lower_case": True, "additional_special_tokens": []}, indent=1) + "\n")


# --------------------------------------------------------------------------- image processors

def _clip_processor(snap: Path, size: int) -> None:
    from transformers import CLIPImageProcessor

    CLIPImageProcessor(do_resize=True, size={"shortest_edge": size}, resample=3, do_center_crop=True,
                       crop_size={"height": size, "width": size}, do_rescale=True, rescale_factor=1 / 255,
                       do_normalize=True, image_mean=CLIP_MEAN, image_std=CLIP_STD,
                       do_convert_rgb=True).save_pretrained(snap)


# --------------------------------------------------------------------------- CLIP

def _save(model, snap: Path) -> None:
    model.save_pretrained(snap, safe_serialization=True)


def _clip(root: Path, repo_id: str, text: dict, vision: dict, projection_dim: int, differs: dict, real: str,
          seed: int) -> dict:
    from transformers import CLIPConfig, CLIPModel

    snap = snapshot_dir(root, repo_id)
    # the real hub configs carry the legacy text ids (bos 0, pad 1, eos 2): the model then pools
    # at the highest token id, which is <|endoftext|> (49407) in the real and the fake vocab.
    cfg = CLIPConfig(text_config={"vocab_size": 49408, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
                                  "bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2, **text},
                     vision_config={"hidden_act": "quick_gelu", "num_channels": 3, **vision},
                     projection_dim=projection_dim, logit_scale_init_value=2.6592)
    cfg.architectures = ["CLIPModel"]
    _seed(seed)
    _save(CLIPModel(cfg).eval(), snap)
    write_clip_tokenizer(snap)
    _clip_processor(snap, vision["image_size"])
    return _result(root, snap, _write_stamp(snap, repo_id, real, differs))


def make_clip_b32(root: Path) -> dict:
    """openai/clip-vit-base-patch32 in its real architecture (151M parameters)."""
    return _clip(root, "openai/clip-vit-base-patch32",
                 text={"hidden_size": 512, "intermediate_size": 2048, "num_attention_heads": 8,
                       "num_hidden_layers": 12, "projection_dim": 512},
                 vision={"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
                         "num_hidden_layers": 12, "image_size": 224, "patch_size": 32, "projection_dim": 512},
                 projection_dim=512, differs={}, real="CLIP ViT-B/32, 224 px, 512-d", seed=32)


def make_clip_l14_336(root: Path) -> dict:
    """openai/clip-vit-large-patch14-336 (CMMD's CLIP): 336 px, patch 14 (24x24 tokens), 768-d
    projection as the real one; towers shrunk (real: 1024 wide x 24 layers vision, 768 x 12 text)."""
    return _clip(root, "openai/clip-vit-large-patch14-336",
                 text={"hidden_size": 64, "intermediate_size": 256, "num_attention_heads": 2,
                       "num_hidden_layers": 1, "projection_dim": 768},
                 vision={"hidden_size": 64, "intermediate_size": 256, "num_attention_heads": 2,
                         "num_hidden_layers": 1, "image_size": 336, "patch_size": 14, "projection_dim": 768},
                 projection_dim=768,
                 differs={"vision hidden_size": (1024, 64), "vision layers": (24, 1), "vision heads": (16, 2),
                          "text hidden_size": (768, 64), "text layers": (12, 1)},
                 real="CLIP ViT-L/14@336, 768-d projection", seed=14)


# --------------------------------------------------------------------------- SigLIP

def make_siglip(root: Path) -> dict:
    """google/siglip-so400m-patch14-384: SiglipModel at 384 px, patch 14 (27x27 tokens), mean/std
    0.5, bicubic; towers shrunk (real: 1152 wide x 27 layers, 16 heads; the image embedding is
    the attention-pooled hidden state, so its width is the model width: 1152-d real, 64-d fake)."""
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    repo_id = "google/siglip-so400m-patch14-384"
    snap = snapshot_dir(root, repo_id)
    small = {"hidden_size": 64, "intermediate_size": 256, "num_attention_heads": 2, "num_hidden_layers": 1}
    cfg = SiglipConfig(text_config={"vocab_size": 32000, "max_position_embeddings": 64, "pad_token_id": 1,
                                    "bos_token_id": None, "eos_token_id": 1, **small},
                       vision_config={"image_size": 384, "patch_size": 14, "num_channels": 3, **small})
    cfg.architectures = ["SiglipModel"]
    _seed(384)
    _save(SiglipModel(cfg).eval(), snap)
    SiglipImageProcessor(do_resize=True, size={"height": 384, "width": 384}, resample=3, do_rescale=True,
                         rescale_factor=1 / 255, do_normalize=True, image_mean=[0.5] * 3,
                         image_std=[0.5] * 3).save_pretrained(snap)
    write_siglip_tokenizer(snap)
    differs = {"hidden_size (= embedding dim)": (1152, 64), "layers": (27, 1), "heads": (16, 2),
               "intermediate_size": (4304, 256)}
    return _result(root, snap, _write_stamp(snap, repo_id, "SigLIP so400m/14 at 384 px, 1152-d", differs))


# --------------------------------------------------------------------------- ALIGN

def make_align(root: Path) -> dict:
    """kakaobrain/align-base: AlignModel (EfficientNet vision tower, BERT text tower); as its
    processor, bilinear resize to 346 and centre crop 289, rescaled to [-1, 1]. Shrunk: width
    and depth coefficients (real B7: 2.0 / 3.1, 640-d pooled embedding), BERT 768 x 12 layers."""
    from transformers import AlignConfig, AlignModel, EfficientNetImageProcessor

    repo_id = "kakaobrain/align-base"
    snap = snapshot_dir(root, repo_id)
    vision = {"image_size": 289, "width_coefficient": 0.25, "depth_coefficient": 0.2, "num_channels": 3}
    text = {"vocab_size": 30522, "hidden_size": 64, "intermediate_size": 256, "num_attention_heads": 2,
            "num_hidden_layers": 1, "max_position_embeddings": 512}
    cfg = AlignConfig(text_config=text, vision_config=vision, projection_dim=80)
    cfg.architectures = ["AlignModel"]
    _seed(289)
    model = AlignModel(cfg).eval()
    _save(model, snap)
    EfficientNetImageProcessor(do_resize=True, size={"height": 346, "width": 346}, resample=2,
                               do_center_crop=True, crop_size={"height": 289, "width": 289}, do_rescale=True,
                               rescale_factor=1 / 127.5, rescale_offset=True, do_normalize=False,
                               include_top=False).save_pretrained(snap)
    write_bert_vocab(snap)
    differs = {"vision width_coefficient": (2.0, 0.25), "vision depth_coefficient": (3.1, 0.2),
               "embedding dim": (640, 80), "text hidden_size": (768, 64), "text layers": (12, 1)}
    return _result(root, snap, _write_stamp(snap, repo_id, "ALIGN (EfficientNet-B7 + BERT-base), 640-d", differs))


# --------------------------------------------------------------------------- SD VAE and DiT-XL/2

# stabilityai/sd-vae-ft-ema's AutoencoderKL (83.7M parameters): four 2x stages (latent = image / 8),
# 4 latent channels, scaling factor 0.18215.
SD_VAE_REAL = {"in_channels": 3, "out_channels": 3, "down_block_types": ["DownEncoderBlock2D"] * 4,
               "up_block_types": ["UpDecoderBlock2D"] * 4, "block_out_channels": [128, 256, 512, 512],
               "layers_per_block": 2, "latent_channels": 4, "norm_num_groups": 32, "sample_size": 256,
               "act_fn": "silu", "scaling_factor": 0.18215}
# The fake's widths: on one CPU core the real VAE takes ~5 s to encode and ~9 s to decode one
# 256 px image, and the rehearsal passes ~100 images through it; these widths take ~1/100 of it.
SD_VAE_FAKE = {"block_out_channels": [16, 32, 64, 64], "layers_per_block": 1, "norm_num_groups": 8}


def _vae(seed: int):
    from diffusers import AutoencoderKL

    _seed(seed)
    return AutoencoderKL(**{**SD_VAE_REAL, **SD_VAE_FAKE}).eval()


def _vae_differs() -> dict:
    return {f"vae {k}": (SD_VAE_REAL[k], v) for k, v in SD_VAE_FAKE.items()}


def make_sd_vae(root: Path) -> dict:
    """stabilityai/sd-vae-ft-ema: AutoencoderKL with the real block types, four 2x stages, 4 latent
    channels, 256 px sample size and 0.18215 scaling; channel widths and depth shrunk."""
    repo_id = "stabilityai/sd-vae-ft-ema"
    snap = snapshot_dir(root, repo_id)
    _vae(8).save_pretrained(snap, safe_serialization=True)
    note = "latent = image/8 with 4 channels as the real one"
    return _result(root, snap, _write_stamp(snap, repo_id, "AutoencoderKL sd-vae-ft-ema, 83.7M", _vae_differs(),
                                            note))


# facebook/DiT-XL-2-256: DiT-XL/2 = 28 layers, 16 heads x 72 = 1152 wide, patch 2 on the 32x32x4
# latent, learned sigma (8 output channels), 1000 ImageNet classes (+ the null class 1000).
DIT_XL_REAL = {"num_layers": 28, "num_attention_heads": 16, "attention_head_dim": 72}
DIT_XL_FAKE = {"num_layers": 2, "num_attention_heads": 2, "attention_head_dim": 32}


def imagenet_id2label() -> dict[str, str]:
    """Class names for the fake pipeline's ``id2label`` (the real one lists ImageNet's 1000
    synsets; the fake keeps the count and names the one the study uses)."""
    names = {207: "golden retriever", 0: "tench, Tinca tinca", 1: "goldfish, Carassius auratus"}
    return {str(i): names.get(i, f"imagenet class {i}") for i in range(1000)}


def make_dit_xl_2(root: Path) -> dict:
    """facebook/DiT-XL-2-256 as ``DiTPipeline.from_pretrained`` reads it: model_index.json with
    id2label, transformer/ (DiTTransformer2DModel: patch 2 on 32x32x4 latents, 8 output channels
    = epsilon + learned variance, 1000 classes, adaLN-Zero), vae/ and scheduler/ (the real
    pipeline's DDIMScheduler config). Transformer and VAE shrunk."""
    from diffusers import DDIMScheduler, DiTPipeline, DiTTransformer2DModel

    repo_id = "facebook/DiT-XL-2-256"
    snap = snapshot_dir(root, repo_id)
    _seed(2)
    tr = DiTTransformer2DModel(in_channels=4, out_channels=8, sample_size=32, patch_size=2, num_embeds_ada_norm=1000,
                               norm_type="ada_norm_zero", activation_fn="gelu-approximate", **DIT_XL_FAKE).eval()
    # random weights for the adaLN-Zero and output layers too (diffusers zero-initialises them,
    # which would make every prediction 0 and the variance channels constant)
    import torch

    with torch.no_grad():
        for name, p in tr.named_parameters():
            if not p.abs().sum():
                p.normal_(0.0, 0.02)
    sched = DDIMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                          clip_sample=False, set_alpha_to_one=True, prediction_type="epsilon")
    pipe = DiTPipeline(transformer=tr, vae=_vae(3), scheduler=sched, id2label=imagenet_id2label())
    pipe.save_pretrained(snap, safe_serialization=True)
    index = json.loads((snap / "model_index.json").read_text())  # the real one lists the class names
    index["id2label"] = imagenet_id2label()                        # (DiTPipeline.labels reads them)
    (snap / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    differs = {f"transformer {k}": (DIT_XL_REAL[k], v) for k, v in DIT_XL_FAKE.items()} | _vae_differs()
    return _result(root, snap, _write_stamp(snap, repo_id, "DiT-XL/2 256 px, 675M", differs,
                                            "patch 2 on 32x32x4 latents, learned variance, 1000 classes"))

