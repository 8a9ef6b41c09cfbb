"""The weights formula the TypeScript tests reproduce (tooling/config/fixtures.ts: formulaTensor, formulaInput),
so a fixture holds a net's outputs instead of its weights.

value(i) = sin(1.7 * i + 0.3 * k) for element i of the k-th tensor of the state dict, scaled per kind:
conv/linear weights * sqrt(3 / fan_in), biases * 0.1, BatchNorm weight 1 + 0.1 v, bias 0.1 v,
running_mean 0.1 v, running_var 1 + 0.5 |v|; the input is sin(0.9 * i) (NCHW order).
"""
import math, os, sys
import torch
from torch import nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_seed_nets as seed  # noqa: E402,F401


def formula(name, shape, k):
    n = math.prod(shape)
    v = torch.tensor([math.sin(1.7 * i + 0.3 * k) for i in range(n)], dtype=torch.float64)
    if name.endswith('running_var'):
        v = 1 + 0.5 * v.abs()
    elif name.endswith('running_mean') or (name.endswith('bias')):
        v = 0.1 * v
    elif len(shape) >= 2:
        v = v * math.sqrt(3 / math.prod(shape[1:]))
    else:  # BatchNorm weight
        v = 1 + 0.1 * v
    return v.to(torch.float32).reshape(shape)

def resized(net, size, channels):
    """AlexNet and VGG hard-code their first Linear for 224 px: size it for this input, as convnets does."""
    children = list(net.children())
    flat = next((i for i, m in enumerate(children) if isinstance(m, nn.Flatten)), None)
    if flat is not None and flat + 1 < len(children) and isinstance(children[flat + 1], nn.Linear):
        with torch.no_grad():
            features = nn.Sequential(*children[:flat + 1]).eval()(torch.zeros(1, channels, size, size)).shape[1]
        net[flat + 1] = nn.Linear(features, children[flat + 1].out_features)
    return net


def formula_net(build, size, channels):
    """The notebook's net, sized for this input, with the formula's weights, in eval mode."""
    net = resized(build(), size, channels).eval()
    state = net.state_dict()
    for k, (key, value) in enumerate(state.items()):
        if value.dtype == torch.float32:
            state[key] = formula(key, list(value.shape), k)
    net.load_state_dict(state)
    return net


def formula_input(batch, channels, size):
    n = batch * channels * size * size
    return torch.tensor([math.sin(0.9 * i) for i in range(n)], dtype=torch.float64).to(torch.float32).reshape(
        batch, channels, size, size)
