"""PyTorch side of `convnets bench --torch`: the same net, batch and image size, training and inference images/s on
this machine's CPU, with the same step as convnets' (cross-entropy, SGD with momentum 0.9 and weight decay 5e-4) on
a fresh batch each step, timed after a warm-up. The net is the model.py that `convnets export --format pytorch`
writes for it (the CLI writes one for the benchmark), so the two sides run the same layers. Run it with
MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ raised (the CLI does) so glibc keeps PyTorch's buffers between
steps, as a long run does.

usage: /usr/bin/python3 torch_bench.py --model-py DIR/model.py --batch-size 32 [--seconds 5] [--warmup 3] [--threads 2]
(the input size, channels and classes are model.py's CARD's)
Prints one JSON object.
"""
import argparse, importlib.util, json, os, time
import torch
from torch import nn

p = argparse.ArgumentParser()
p.add_argument('--model-py', required=True)
p.add_argument('--batch-size', type=int, required=True)
p.add_argument('--seconds', type=float, default=5)
p.add_argument('--warmup', type=int, default=3, help='untimed steps before measuring each mode')
p.add_argument('--threads', type=int, default=os.cpu_count())
args = p.parse_args()

spec = importlib.util.spec_from_file_location('model', args.model_py)
model_py = importlib.util.module_from_spec(spec)
spec.loader.exec_module(model_py)
torch.set_num_threads(args.threads)  # Debian's torch defaults to one thread
torch.manual_seed(0)
net = model_py.build_model()
card = model_py.CARD

POOL = 4  # distinct batches, taken in turn
xs = [torch.randn(args.batch_size, card['inChannels'], card['inputSize'], card['inputSize']) for _ in range(POOL)]
ys = [torch.randint(0, len(card['classes']), (args.batch_size,)) for _ in range(POOL)]
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
    for i in range(args.warmup):
        step(i)
    steps, start = 0, time.perf_counter()
    while steps < 2 or time.perf_counter() - start < args.seconds:
        step(steps)
        steps += 1
    return steps * args.batch_size / (time.perf_counter() - start)

print(json.dumps({'backend': 'torch', 'torch': torch.__version__, 'threads': torch.get_num_threads(),
                  'trainImagesPerSec': rate(train_step, True), 'inferImagesPerSec': rate(infer_step, False)}))
