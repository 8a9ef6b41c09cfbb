"""Golden outputs of single PyTorch layers on small fixed inputs (NCHW, PyTorch layouts)."""
import json, os
import torch
from torch import nn

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'packages', 'nn', 'src', '__fixtures__', 'layers.json')

def t(x):
    return {'shape': list(x.shape), 'data': [round(v, 7) for v in x.detach().reshape(-1).tolist()]}

cases = []

def case(name, layer, x, **extra):
    layer.eval() if extra.pop('eval', False) else layer.train()
    y = layer(x)
    entry = {'name': name, 'input': t(x), 'output': t(y)}
    entry.update({k: t(v) for k, v in layer.state_dict().items() if v.dtype == torch.float32})
    entry.update(extra)
    cases.append(entry)

x = torch.randn(2, 3, 7, 6)
for cfg in [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=(3, 2), stride=(1, 2), padding=(0, 1)),
            dict(kernel_size=3, padding=2, dilation=2), dict(kernel_size=1, bias=False)]:
    case('conv2d ' + json.dumps(cfg), nn.Conv2d(3, 4, **cfg), x, config=cfg)
case('conv2d groups=3', nn.Conv2d(3, 6, 3, padding=1, groups=3), x, config=dict(kernel_size=3, padding=1, groups=3))

neg = -torch.rand(1, 2, 5, 5) - 1  # all negative: padding must never win a max
for cfg in [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=2, ceil_mode=True),
            dict(kernel_size=2, stride=2, padding=1, ceil_mode=True), dict(kernel_size=3, stride=1, padding=1)]:
    case('maxpool2d ' + json.dumps(cfg), nn.MaxPool2d(**cfg), neg, config=cfg)
for cfg in [dict(kernel_size=2, stride=2), dict(kernel_size=3, stride=2, padding=1),
            dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), dict(kernel_size=2, stride=2, ceil_mode=True)]:
    case('avgpool2d ' + json.dumps(cfg), nn.AvgPool2d(**cfg), x, config=cfg)
for size in [(1, 1), (3, 2), (7, 3)]:
    case(f'adaptiveavgpool2d {size}', nn.AdaptiveAvgPool2d(size), x, config=dict(output_size=list(size)))

case('linear', nn.Linear(5, 3), torch.randn(4, 5))
case('flatten', nn.Flatten(), torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2))

# BatchNorm: two training steps (running stats move), then eval on a third batch.
bn = nn.BatchNorm2d(3)
with torch.no_grad():
    bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5])); bn.bias.copy_(torch.tensor([0.0, -1.0, 0.25]))
b1, b2, b3 = torch.randn(4, 3, 3, 2) * 2 + 1, torch.randn(4, 3, 3, 2), torch.randn(2, 3, 3, 2)
bn.train(); y1 = bn(b1); y2 = bn(b2)
bn.eval(); y3 = bn(b3)
cases.append({'name': 'batchnorm2d', 'weight': t(bn.weight), 'bias': t(bn.bias),
              'batches': [t(b1), t(b2), t(b3)], 'outputs': [t(y1), t(y2), t(y3)],
              'running_mean': t(bn.running_mean), 'running_var': t(bn.running_var),
              'num_batches_tracked': int(bn.num_batches_tracked)})

# Small maps, where some kernel taps only ever meet padding (ResNet's last stage at 32 px): output and
# the weight gradient of sum(y^2)/2, whose dead taps must be exactly zero.
for (h, w), cfg in [((1, 1), dict(kernel_size=3, padding=1)), ((2, 2), dict(kernel_size=3, stride=2, padding=1)),
                    ((2, 3), dict(kernel_size=5, padding=2)), ((3, 3), dict(kernel_size=3, padding=2, dilation=2)),
                    ((1, 2), dict(kernel_size=(7, 3), stride=2, padding=(3, 1)))]:
    conv = nn.Conv2d(3, 4, **cfg)
    xs = torch.randn(2, 3, h, w)
    case('conv2d small map ' + json.dumps(cfg) + f' on {h}x{w}', conv, xs, config=cfg)
    if 'dilation' not in cfg:  # tfjs-core has no gradient for dilated convolutions
        conv.zero_grad()
        (conv(xs).pow(2).sum() / 2).backward()
        cases[-1]['weight_grad'] = t(conv.weight.grad)

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, 'w') as f:
    json.dump({'torch': torch.__version__, 'cases': cases}, f)
print('wrote', OUT, len(cases), 'cases')
