import numpy as np
import pytest

from saidl.common import datasets
from saidl.common.errors import ConfigError
from saidl.coreml import data as D

K = 10


@pytest.fixture(scope="module")
def labels():
    return np.repeat(np.arange(K), 500)  # 500 per class


@pytest.mark.parametrize("eta", [0.2, 0.4, 0.8])
def test_symmetric_noise_flips_exactly_eta_to_other_classes(labels, eta):
    noisy, _ = D.noisy_labels(labels, "cifar10", "sym", eta, seed=0)
    for c in range(K):
        flipped = noisy[labels == c] != c
        assert flipped.sum() == round(eta * 500)  # exact per-class count
    # Every other class receives the same share (exact counts up to rounding).
    t = D.realised_transition(labels, noisy)
    off = t[~np.eye(K, dtype=bool)]
    assert np.allclose(off, eta / (K - 1), atol=1.5 / 500)
    assert np.allclose(t.sum(1), 1.0)


def test_symmetric_noise_never_keeps_true_label_for_flipped_samples(labels):
    noisy, t = D.noisy_labels(labels, "cifar10", "sym", 0.8, seed=3)
    assert np.allclose(np.diag(t), 0.2)
    assert (noisy != labels).mean() == pytest.approx(0.8)


def test_noisy_labels_are_a_pure_function_of_dataset_noise_eta_seed(labels):
    a, _ = D.noisy_labels(labels, "cifar10", "sym", 0.4, seed=1)
    b, _ = D.noisy_labels(labels, "cifar10", "sym", 0.4, seed=1)
    c, _ = D.noisy_labels(labels, "cifar10", "sym", 0.4, seed=2)
    d, _ = D.noisy_labels(labels, "fashion_mnist", "sym", 0.4, seed=1)
    assert (a == b).all()
    assert (a != c).any() and (a != d).any()


@pytest.mark.parametrize("dataset", ["cifar10", "fashion_mnist"])
def test_asymmetric_noise_flips_only_mapped_classes_to_their_target(labels, dataset):
    eta = 0.4
    noisy, _ = D.noisy_labels(labels, dataset, "asym", eta, seed=0)
    mapping = D.ASYM_MAPS[dataset]
    for c in range(K):
        got = noisy[labels == c]
        if c in mapping:
            assert set(np.unique(got)) == {c, mapping[c]}
            assert (got == mapping[c]).sum() == round(eta * 500)  # exact eta, cat<->dog too
        else:
            assert (got == c).all()


def test_cifar10_asymmetric_map_is_the_papers():
    names = datasets.CIFAR10_CLASSES
    pairs = {(names[s], names[d]) for s, d in D.ASYM_MAPS["cifar10"].items()}
    assert pairs == {("truck", "automobile"), ("bird", "airplane"), ("cat", "dog"),
                     ("dog", "cat"), ("deer", "horse")}


def test_eta_outside_unit_interval_is_a_config_error(labels):
    with pytest.raises(ConfigError, match="outside"):
        D.noisy_labels(labels, "cifar10", "sym", 1.2, seed=0)


def test_stratified_split_is_disjoint_and_balanced(labels):
    a, b = datasets.stratified_split(labels, [100, 50], seed=0)
    assert len(set(a) & set(b)) == 0
    assert np.bincount(labels[a], minlength=K).tolist() == [10] * K


def test_missing_fashion_mnist_names_the_folder_and_the_fix(tmp_path):
    from saidl.common.errors import DataError

    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as err:
        datasets.load_fashion_mnist(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_absent_cifar10_offline_says_where_to_put_it(tmp_path, monkeypatch):
    from saidl.common.errors import DataError

    import torchvision.datasets.utils as U

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(U, "download_url", offline)
    with pytest.raises(DataError, match="cifar-10-python.tar.gz") as err:
        datasets.load_cifar10(tmp_path)
    assert str(tmp_path) in str(err.value)


# --------------------------------------------------------------------------------------------
# The rehearsal's fake CIFAR-10 (saidl.fakes.cifar10) and the verify_checksums switch


@pytest.fixture(scope="module")
def fake_cifar(tmp_path_factory):
    from saidl.fakes import make

    root = tmp_path_factory.mktemp("fakes")
    info = make("cifar10", root)
    return root / "cifar10", info


def test_fake_cifar10_is_torchvision_format(fake_cifar):
    import pickle

    root, info = fake_cifar
    folder = root / "cifar-10-batches-py"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                     "data_batch_5", "test_batch"]
    raw = (folder / "data_batch_1").read_bytes()
    assert raw[:2] == b"\x80\x02"  # a protocol-2 pickle, as the real (Python 2) batches
    with open(folder / "data_batch_1", "rb") as fh:  # the official loader's way: bytes keys
        batch = pickle.load(fh, encoding="bytes")
    assert list(batch) == [b"batch_label", b"labels", b"data", b"filenames"]
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (info["images_per_batch"], 3072)
    assert batch[b"batch_label"] == b"training batch 1 of 5" and batch[b"filenames"][0].endswith(b".png")
    with open(folder / "batches.meta", "rb") as fh:
        meta = pickle.load(fh, encoding="bytes")
    assert meta[b"label_names"] == [c.encode() for c in datasets.CIFAR10_CLASSES] and meta[b"num_vis"] == 3072
    assert meta[b"num_cases_per_batch"] == info["images_per_batch"]


def test_fake_cifar10_reads_through_torchvision_without_md5_and_has_class_signal(fake_cifar):
    root, info = fake_cifar
    arrays = datasets.load_cifar10(root, verify_checksums=False)
    assert arrays.x_train.shape == (info["n_train"], 3, 32, 32) and arrays.x_test.shape == (info["n_test"], 3, 32, 32)
    assert np.bincount(arrays.y_train, minlength=K).tolist() == [info["n_train"] // K] * K
    assert "md5 not checked" in arrays.source
    # a nearest-class-mean classifier, in colour and in grayscale (the SSM task's luma), beats chance
    from saidl.ssm.data import grayscale

    for to in (lambda x: x.reshape(len(x), -1).astype(float), lambda x: grayscale(x.astype(float)).reshape(len(x), -1)):
        xtr, xte = to(arrays.x_train), to(arrays.x_test)
        means = np.stack([xtr[arrays.y_train == c].mean(0) for c in range(K)])
        pred = np.argmin(((xte[:, None] - means[None]) ** 2).sum(-1), 1)
        assert (pred == arrays.y_test).mean() > 0.5


def test_full_keeps_the_md5_check_a_fake_is_a_clear_error(fake_cifar, monkeypatch):
    from saidl.common.errors import DataError

    import torchvision.datasets.utils as U

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(U, "download_url", offline)
    root, _ = fake_cifar
    with pytest.raises(DataError, match="fails torchvision's md5 check"):
        datasets.load_cifar10(root)  # verify_checksums defaults to True
    with pytest.raises(DataError, match="fails torchvision's md5 check"):
        D.load_dataset("cifar10", str(root), verify_checksums=True)


def test_unchecked_reader_never_downloads_and_names_the_fake(tmp_path, monkeypatch):
    from saidl.common.errors import DataError

    import torchvision.datasets.utils as U

    def no_download(*a, **k):
        raise AssertionError("the unchecked reader must not download")

    monkeypatch.setattr(U, "download_url", no_download)
    with pytest.raises(DataError, match="python -m saidl.fakes cifar10"):
        datasets.load_cifar10(tmp_path, verify_checksums=False)


def test_verify_checksums_is_true_at_full_and_false_only_in_the_rehearsal(coreml_cfg):
    import yaml

    from conftest import REPO
    from saidl.coreml.grid import run_configs
    from saidl.ssm.grid import run_configs as ssm_run_configs

    ssm_cfg = yaml.safe_load((REPO / "tasks/ssm/config.yaml").read_text())["ssm"]
    for cfg, runs in ((coreml_cfg, run_configs), (ssm_cfg, ssm_run_configs)):
        assert cfg["scales"]["full"]["verify_checksums"] is True
        assert cfg["rehearsal"]["verify_checksums"] is False
        assert all(c["verify_checksums"] is True for c in runs(cfg, "full").values() if c["dataset"] != "fashion_mnist")
        assert all(c["verify_checksums"] is False for c in runs(cfg, "rehearsal").values())
        assert all("verify_checksums" not in c for c in runs(cfg, "demo").values())
