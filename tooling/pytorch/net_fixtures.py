"""Each notebook net as PyTorch prints it, with its state-dict names and shapes (PyTorch layouts)."""
import json, os, sys
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_seed_nets as seed  # noqa: E402

OUT = os.path.join(ROOT, 'packages', 'architectures', 'src', '__fixtures__', 'nets.json')
nets = {
    'alexnet': seed.alexnet(),
    'vgg11': seed.vgg(seed.conv_arch),
    'vgg11-small': seed.vgg([(n, c // 4) for n, c in seed.conv_arch]),
    'nin': seed.nin_net(),
    'nin-1ch': seed.nin_net(1),
    'googlenet': seed.google_net(),
    'resnet18': seed.res_net(),
    'densenet': seed.dense_net(),
}
out = {name: {'repr': repr(net), 'state': [[k, list(v.shape)] for k, v in net.state_dict().items()]} for name, net in nets.items()}
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, 'w') as f:
    json.dump(out, f, indent=0)
print('wrote', OUT)
