"""Models of the Core ML task: the APL paper's 8-layer CNN and a small MLP for the demo scale."""

from __future__ import annotations

import torch
from torch import nn

from saidl.coreml.names import MLP_HIDDEN


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class CNN8(nn.Module):
    """The "8-layer CNN" (``ToyModel(type='CIFAR10')``): 6 convs in 3 blocks + 2 linear layers.

    32x32 input: 64x16x16 -> 128x8x8 -> 196x4x4 -> 3136 -> 256 -> K.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            *_conv_bn_relu(in_channels, 64), *_conv_bn_relu(64, 64), nn.MaxPool2d(2),
            *_conv_bn_relu(64, 128), *_conv_bn_relu(128, 128), nn.MaxPool2d(2),
            *_conv_bn_relu(128, 196), *_conv_bn_relu(196, 196), nn.MaxPool2d(2),
        )
        side = image_size // 8
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(196 * side * side, 256), nn.BatchNorm1d(256),
            nn.ReLU(inplace=True), nn.Linear(256, num_classes))
        for m in self.modules():  # the official initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class MLP(nn.Module):
    """A two-hidden-layer ReLU MLP: big enough to memorise a noisy demo subset on a CPU."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 hidden: int = MLP_HIDDEN):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_channels * image_size * image_size, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


MODELS = {"cnn8": CNN8, "mlp": MLP}


def build_model(name: str, in_channels: int, num_classes: int, image_size: int, **kwargs) -> nn.Module:
    return MODELS[name](in_channels=in_channels, num_classes=num_classes, image_size=image_size, **kwargs)
