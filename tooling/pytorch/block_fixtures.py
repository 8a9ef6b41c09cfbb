"""Golden outputs of the notebook's blocks: random weights, one train-mode and one eval-mode forward."""
import json, os, sys
import torch
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_seed_nets as seed  # noqa: E402

from torch import nn  # noqa: E402

OUT = os.path.join(ROOT, 'packages', 'blocks', 'src', '__fixtures__', 'blocks.json')
torch.manual_seed(0)

def t(x):
    return {'shape': list(x.shape), 'data': [round(v, 7) for v in x.detach().reshape(-1).tolist()]}

def vgg_block(num_convs, in_channels, out_channels):
    layers = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()]
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)

blocks = {
    'residual-projection': (seed.Residual(3, 4, use_1x1conv=True, strides=2), [2, 3, 6, 6]),
    'residual': (seed.Residual(4, 4), [2, 4, 5, 5]),
    'inception': (seed.Inception(4, 2, (3, 4), (2, 3), 2), [2, 4, 5, 5]),
    'dense-block': (seed.DenseBlock(2, 3, 4), [2, 3, 4, 4]),
    'transition-block': (seed.transition_block(6, 3), [2, 6, 4, 4]),
    'conv-block': (seed.conv_block(3, 5), [2, 3, 4, 4]),
    'vgg-block': (vgg_block(2, 3, 4), [2, 3, 6, 6]),
    'nin-block': (seed.nin_block(3, 4, 3, 2, 1), [2, 3, 7, 7]),
}
out = {}
for name, (block, shape) in blocks.items():
    # Non-trivial BatchNorm affine parameters, so a mix-up of weight and bias shows.
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.5, 0.5)
    state = {k: t(v) for k, v in block.state_dict().items() if v.dtype == torch.float32}
    x = torch.randn(*shape, requires_grad=True)
    block.train(); y_train = block(x)
    # Gradients of a weighted sum of the train-mode output, w.r.t. the input and every parameter.
    weights = torch.randn(*y_train.shape)
    (y_train * weights).sum().backward()
    grads = {'input': t(x.grad), **{k: t(p.grad) for k, p in block.named_parameters()}}
    block.eval(); y_eval = block(x)
    after = {k: t(v) for k, v in block.state_dict().items() if 'running' in k}
    out[name] = {'state': state, 'input': t(x), 'train': t(y_train), 'eval': t(y_eval), 'running_after': after,
                 'output_weights': t(weights), 'grads': grads}
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, 'w') as f:
    json.dump(out, f)
print('wrote', OUT)
