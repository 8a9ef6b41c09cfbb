"""Each notebook net's logits in eval mode, with weights and input from a closed formula that the
TypeScript test reproduces exactly (so the fixture stays a few KB instead of 100+ MB of AlexNet/VGG weights).

value(i) = sin(1.7 * i + 0.3 * k) for element i of the k-th tensor of the state dict, scaled per kind:
conv/linear weights * sqrt(3 / fan_in), biases * 0.1, BatchNorm weight 1 + 0.1 v, bias 0.1 v,
running_mean 0.1 v, running_var 1 + 0.5 |v|; the input is sin(0.9 * i) (NCHW order).
"""
import json, math, os
import torch
from formula import ROOT, formula_net, seed

OUT = os.path.join(ROOT, 'packages', 'architectures', 'src', '__fixtures__', 'logits.json')

cases = {
    'alexnet': (seed.alexnet, 67, 3), 'vgg11': (lambda: seed.vgg(seed.conv_arch), 32, 3),
    'vgg11-small': (lambda: seed.vgg([(n, c // 4) for n, c in seed.conv_arch]), 32, 3),
    'nin': (seed.nin_net, 67, 3), 'nin-1ch': (lambda: seed.nin_net(1), 67, 1),
    'googlenet': (seed.google_net, 32, 3), 'resnet18': (seed.res_net, 32, 3), 'densenet': (seed.dense_net, 32, 3),
}
out = {}
for name, (build, size, channels) in cases.items():
    net = formula_net(build, size, channels)
    x = torch.tensor([math.sin(0.9 * i) for i in range(2 * channels * size * size)], dtype=torch.float64).to(torch.float32).reshape(2, channels, size, size)
    with torch.no_grad():
        logits = net(x)
    out[name] = {'inputSize': size, 'inChannels': channels, 'logits': [[round(v, 7) for v in row] for row in logits.tolist()]}
    print(name, logits.abs().max().item())
with open(OUT, 'w') as f:
    json.dump({'torch': torch.__version__, 'nets': out}, f, indent=1)
print('wrote', OUT)
