"""ResNet-18 (the notebook's) in train mode: loss, every parameter's gradient and the updated BatchNorm running
statistics after one forward/backward pass, from PyTorch 1.13. Weights and input come from an integer hash that
the TypeScript test reproduces exactly (tooling/config/fixtures.ts: hashTensor), scaled like PyTorch's default
init — well-conditioned, unlike a sine formula, so float32 gradients are meaningful to 1e-5 (checked here
against float64). Stored compactly: per tensor its sum, L2 norm and 16 sampled elements (PyTorch layout).
Run: /usr/bin/python3 tooling/pytorch/grad_fixtures.py
"""
import json, math, os, sys
import numpy as np
import torch
from torch import nn
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_seed_nets as seed  # noqa: E402

OUT = os.path.join(ROOT, 'packages', 'backend', 'src', '__fixtures__', 'resnet18-grads.json')
SIZE, BATCH = 64, 4
M = np.uint64(0xFFFFFFFF)

def uniform(n, k):
    """murmur3's finaliser over (i + k * golden ratio) mod 2^32, mapped to [-1, 1)."""
    x = (np.arange(n, dtype=np.uint64) + np.uint64((k * 0x9E3779B9) & 0xFFFFFFFF)) & M
    x ^= x >> np.uint64(16); x = (x * np.uint64(0x85EBCA6B)) & M
    x ^= x >> np.uint64(13); x = (x * np.uint64(0xC2B2AE35)) & M
    x ^= x >> np.uint64(16)
    return x.astype(np.float64) / 2**32 * 2 - 1

def tensor(name, shape, k):
    u = uniform(math.prod(shape), k)
    if name.endswith('running_var'): v = np.ones_like(u)
    elif name.endswith('running_mean'): v = np.zeros_like(u)
    elif len(shape) >= 2: v = u / math.sqrt(math.prod(shape[1:]))  # PyTorch's default bound, 1/sqrt(fan_in)
    elif name.endswith('bias'): v = 0.1 * u
    else: v = 1 + 0.1 * u  # BatchNorm weight
    return torch.from_numpy(v.astype(np.float32)).reshape(shape)

def run(dtype):
    net = seed.res_net().to(dtype)
    state = net.state_dict()
    for k, (key, value) in enumerate(state.items()):
        if value.is_floating_point(): state[key] = tensor(key, list(value.shape), k).to(dtype)
    net.load_state_dict(state)
    net.train()
    x = torch.from_numpy(uniform(BATCH * 3 * SIZE * SIZE, 1000).astype(np.float32)).reshape(BATCH, 3, SIZE, SIZE).to(dtype)
    y = torch.arange(BATCH) % 10
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    return net, loss.item()

def summarise(t):
    flat = t.detach().double().reshape(-1)
    idx = sorted({int(i) for i in uniform(16, 7).__abs__() * (flat.numel() - 1)})
    return {'shape': list(t.shape), 'sum': flat.sum().item(), 'norm': flat.norm().item(), 'samples': [[i, flat[i].item()] for i in idx]}

net, loss = run(torch.float32)
net64, loss64 = run(torch.float64)
worst = max((p.grad.double() - q.grad).abs().max().item() for p, q in zip(net.parameters(), net64.parameters()))
print('loss', loss, 'float64', loss64, 'max |grad32 - grad64|', worst)
out = {
    'torch': torch.__version__, 'inputSize': SIZE, 'batch': BATCH, 'labels': [i % 10 for i in range(BATCH)],
    'loss': loss, 'float32VsFloat64': worst,
    'grads': {n: summarise(p.grad) for n, p in net.named_parameters()},
    'buffers': {n: summarise(b) for n, b in net.named_buffers() if b.is_floating_point()},
}
with open(OUT, 'w') as f:
    json.dump(out, f)
print('wrote', OUT, os.path.getsize(OUT), 'bytes')
