import numpy as np
import pytest

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
    names = D.CIFAR10_CLASSES
    pairs = {(names[s], names[d]) for s, d in D.ASYM_MAPS["cifar10"].items()}
    assert pairs == {("truck", "automobile"), ("bird", "airplane"), ("cat", "dog"),
                     ("dog", "cat"), ("deer", "horse")}


def test_eta_outside_unit_interval_is_a_config_error(labels):
    with pytest.raises(ConfigError, match="outside"):
        D.noisy_labels(labels, "cifar10", "sym", 1.2, seed=0)


def test_stratified_split_is_disjoint_and_balanced(labels):
    a, b = D.stratified_split(labels, [100, 50], seed=0)
    assert len(set(a) & set(b)) == 0
    assert np.bincount(labels[a], minlength=K).tolist() == [10] * K


def test_missing_fashion_mnist_names_the_folder_and_the_fix(tmp_path):
    from saidl.common.errors import DataError

    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as err:
        D.load_fashion_mnist(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_absent_cifar10_offline_says_where_to_put_it(tmp_path, monkeypatch):
    from saidl.common.errors import DataError

    import torchvision.datasets.utils as U

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(U, "download_url", offline)
    with pytest.raises(DataError, match="cifar-10-python.tar.gz") as err:
        D.load_cifar10(tmp_path)
    assert str(tmp_path) in str(err.value)
