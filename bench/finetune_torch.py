"""PyTorch twin of `convnets train --from`, for bench/finetune.mjs: one fine-tuning run of an exported net (the
folder `convnets export --format pytorch` wrote: model.py, weights.safetensors, train.py) on Fashion-MNIST with
convnets' recipe (batch 128, SGD momentum 0.9, weight decay 5e-4, one-cycle peak --lr, cross-entropy), one process.
--mode head: the features frozen (requires_grad off, their BatchNorm in eval) and a new head; all: a new head, every
layer trained; scratch: the same net Xavier-initialised, normalised with Fashion-MNIST's own statistics.
Prints one JSON line: test accuracy and training seconds per epoch.
usage: /usr/bin/python3 bench/finetune_torch.py --project DIR --root FASHION --mode head --features 0,1,2 --head 7
"""
import argparse, json, os, sys, time
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

p = argparse.ArgumentParser()
p.add_argument('--project', required=True)
p.add_argument('--root', required=True)
p.add_argument('--mode', choices=['head', 'all', 'scratch'], required=True)
p.add_argument('--features', required=True, help='top-level module names of the features, comma-separated')
p.add_argument('--head', required=True, help="the head's top-level module name")
p.add_argument('--epochs', type=int, default=1)
p.add_argument('--lr', type=float, default=0.05)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--seed', type=int, default=0)
args = p.parse_args()
torch.set_num_threads(args.threads)
sys.path.insert(0, args.project)
from model import CARD, build_model, load_safetensors  # noqa: E402
from train import IDX_FILES, as_tensors, one_cycle, read_idx, xavier  # noqa: E402

classes = 10
splits = {}
for split in ('train', 'test'):
    images, labels = (read_idx(args.root, n) for n in IDX_FILES[split])
    splits[split] = (images[:, None], labels.astype(np.int64))
card = dict(CARD)
if args.mode == 'scratch':  # the dataset's own normalisation, as `convnets train` without --from
    pixels = splits['train'][0].astype(np.float64) / 255
    card['mean'], card['std'] = [float(pixels.mean())], [float(pixels.std())]
train, test = (as_tensors(*splits[s], card) for s in ('train', 'test'))

model = build_model()
if args.mode == 'scratch':
    xavier(model, args.seed)
else:
    tensors, _ = load_safetensors(os.path.join(args.project, 'weights.safetensors'))
    model.load_state_dict(tensors, strict=True)
old = model._modules[args.head]
torch.manual_seed(args.seed)
model._modules[args.head] = nn.Linear(old.in_features, classes)
if args.mode == 'scratch':
    xavier(model, args.seed)
features = [model._modules[name] for name in args.features.split(',')]
if args.mode == 'head':
    for f in features:
        f.requires_grad_(False)

def train_mode():
    model.train()
    if args.mode == 'head':
        for f in features:
            for m in f.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()

params = [q for q in model.parameters() if q.requires_grad]
optimizer = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=5e-4)
g = torch.Generator().manual_seed(args.seed)
loader = DataLoader(train, batch_size=128, shuffle=True, generator=g)
schedule = one_cycle(args.lr, len(loader) * args.epochs)
seconds = []
for epoch in range(args.epochs):
    train_mode()
    began = time.time()
    for i, (x, y) in enumerate(loader):
        for group in optimizer.param_groups:
            group['lr'] = schedule(epoch * len(loader) + i)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds.append(time.time() - began)
model.eval()
correct = 0
with torch.no_grad():
    for x, y in DataLoader(test, batch_size=500):
        correct += (model(x).argmax(1) == y).sum().item()
print(json.dumps({'torch': torch.__version__, 'accuracy': correct / len(test), 'secondsPerEpoch': seconds}))
