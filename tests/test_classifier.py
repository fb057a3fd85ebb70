"""The digit classifier's code: it learns, it sees images as the pipeline stores them, it loads only checked weights."""

import numpy as np
import pytest
import torch

from ddpm_lab import data, io
from grader import classifier
from tests import lab


@pytest.fixture(scope="module")
def small(mnist_dir):
    images, labels = data.prepared_split(mnist_dir, "train", 32)
    return images[:1200], labels[:1200]


def test_training_learns_far_above_chance_and_is_deterministic(small):
    images, labels = small
    cfg = lab.classifier(epochs=2, batch_size=50, seed=1)
    model, history = classifier.train(images[:1000], labels[:1000], cfg)
    assert history[1] < history[0]
    assert classifier.accuracy(model, images[1000:], labels[1000:]) > 0.6  # chance is 0.1
    again, _ = classifier.train(images[:1000], labels[:1000], cfg)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_measure_counts_digits_confidence_and_non_digits(small):
    images, labels = small
    model, _ = classifier.train(images[:1000], labels[:1000], lab.classifier(epochs=2, batch_size=50))
    m = classifier.measure(model, images[1000:], confidence=0.0)
    assert m.n == 200 and sum(m.counts) + round(m.not_digit_share * 200) == 200
    assert m.confident_share == sum(m.counts) / 200 > 0.6
    assert classifier.measure(model, images[1000:], confidence=1.01).confident_share == 0.0
    # random pixels with a digit's brightness are "not a digit", even after two epochs on 1000 images
    noise = np.where(np.random.default_rng(0).random((200, 32, 32)) < images.mean() / 255, 255, 0).astype(np.uint8)
    assert classifier.measure(model, noise, confidence=0.9).not_digit_share > 0.9


def test_non_digits_share_the_digits_pixels_but_not_their_strokes():
    generator = torch.Generator().manual_seed(0)
    digits = torch.rand((500, 1, 32, 32)) * 2 - 1
    others = classifier.non_digits(digits, generator)
    assert others.shape == digits.shape and others.min() >= -1 and others.max() <= 1
    # the shuffled kind keeps each image's pixel values exactly
    kept = [k for k in range(len(digits)) if torch.equal(others[k].flatten().sort().values, digits[k].flatten().sort().values)]
    assert 50 < len(kept) < 200 and not any(torch.equal(others[k], digits[k]) for k in kept)


def test_input_is_the_pipelines_scaling_and_uint8_only():
    x = classifier.to_input(np.array([[[0, 255]]], dtype=np.uint8))
    assert x.shape == (1, 1, 1, 2) and x.min() == -1 and x.max() == 1
    with pytest.raises(TypeError, match="uint8"):
        classifier.to_input(np.zeros((2, 32, 32), np.float32))


def test_load_refuses_weights_with_another_checksum(tmp_path):
    path = tmp_path / "w.pt"
    io.torch_save(path, classifier.DigitClassifier().state_dict())
    classifier.load(path, io.file_digest(path, "sha256"))
    with pytest.raises(ValueError, match="SHA-256"):
        classifier.load(path, "0" * 64)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="epochs"):
        lab.classifier(epochs=0)
