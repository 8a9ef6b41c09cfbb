"""PyTorch side of `convnets bench --torch`: the same net, batch, image size and channels, training and
inference images/s on this machine's CPU, with the same step as convnets' (cross-entropy, SGD with
momentum 0.9 and weight decay 5e-4) on a fresh batch each step, timed after a warm-up. Nets come from the
reference definitions (pytorch_seed_nets.py). Run it with MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_
raised (the CLI does) so glibc keeps PyTorch's buffers between steps, as a long run does.

usage: /usr/bin/python3 bench/torch_bench.py --model resnet18 --image-size 32 --batch-size 32 [--in-channels 3]
       [--seconds 5] [--threads 2] [--nets ../shared/reference/pytorch_seed_nets.py]
Prints one JSON object.
"""
import argparse, json, os, time
import torch
from torch import nn
import reference_nets

p = argparse.ArgumentParser()
p.add_argument('--model', required=True)
p.add_argument('--image-size', type=int, required=True)
p.add_argument('--batch-size', type=int, required=True)
p.add_argument('--in-channels', type=int, default=3)
p.add_argument('--seconds', type=float, default=5)
p.add_argument('--threads', type=int, default=os.cpu_count())
p.add_argument('--nets', default=reference_nets.DEFAULT_PATH)
args = p.parse_args()

seed = reference_nets.load(args.nets)
builders = {
    'alexnet': seed.alexnet, 'vgg11': lambda: seed.vgg(seed.conv_arch),
    'vgg11-small': lambda: seed.vgg([(n, c // 4) for n, c in seed.conv_arch]),
    'nin': seed.nin_net, 'googlenet': seed.google_net, 'resnet18': seed.res_net, 'densenet': seed.dense_net,
}
if args.model not in builders:
    raise SystemExit(f"unknown model {args.model!r}; expected one of {', '.join(builders)}")
torch.set_num_threads(args.threads)  # Debian's torch defaults to one thread
torch.manual_seed(0)
net = reference_nets.with_in_channels(builders[args.model](), args.in_channels)

# AlexNet and VGG hard-code their first Linear for 224 px: resize it to this image size, as convnets does.
children = list(net.children())
flat = next((i for i, m in enumerate(children) if isinstance(m, nn.Flatten)), None)
if flat is not None and flat + 1 < len(children) and isinstance(children[flat + 1], nn.Linear):
    with torch.no_grad():
        features = nn.Sequential(*children[:flat + 1]).eval()(torch.zeros(1, args.in_channels, args.image_size, args.image_size)).shape[1]
    old = children[flat + 1]
    net[flat + 1] = nn.Linear(features, old.out_features)

POOL = 4  # distinct batches, taken in turn
xs = [torch.randn(args.batch_size, args.in_channels, args.image_size, args.image_size) for _ in range(POOL)]
ys = [torch.randint(0, 10, (args.batch_size,)) for _ in range(POOL)]
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
loss_fn = nn.CrossEntropyLoss()

def train_step(i):
    opt.zero_grad()
    loss = loss_fn(net(xs[i % POOL]), ys[i % POOL])
    loss.backward()
    opt.step()

def infer_step(i):
    with torch.no_grad():
        net(xs[i % POOL])

def rate(step, train):
    net.train(train)
    for i in range(3):
        step(i)
    steps, start = 0, time.perf_counter()
    while steps < 2 or time.perf_counter() - start < args.seconds:
        step(steps)
        steps += 1
    return steps * args.batch_size / (time.perf_counter() - start)

print(json.dumps({'backend': 'torch', 'torch': torch.__version__, 'threads': torch.get_num_threads(),
                  'trainImagesPerSec': rate(train_step, True), 'inferImagesPerSec': rate(infer_step, False)}))
