"""Fine-tuning steps in PyTorch 1.13, for @convnets/trainer's fine-tuning test: a small conv net (conv, BatchNorm,
ReLU, max-pool, flatten, linear) whose weights and batch are stored here, then
- 'frozen': the backbone (conv + BatchNorm) frozen with requires_grad_(False) and its BatchNorm in eval mode, a new
  head (Linear 36 -> 3, weights stored), two SGD steps (momentum 0.9, weight decay 5e-4, lr 0.1);
- 'groups': everything trainable in two parameter groups, backbone lr 0.01 without weight decay and head lr 0.1
  with weight decay 5e-4, momentum 0.9, BatchNorm in train mode, two SGD steps.
Every tensor after the steps is written (state-dict names, PyTorch layouts).
Run: /usr/bin/python3 tooling/pytorch/finetune_fixtures.py
"""
import json, os
import torch
from torch import nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
OUT = os.path.join(ROOT, 'packages', 'trainer', 'src', '__fixtures__', 'finetune.json')
torch.manual_seed(0)

def net(classes):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(36, classes))

pretrained = net(5)
with torch.no_grad():  # BatchNorm statistics and affine parameters that are not the defaults
    pretrained[1].weight.uniform_(0.5, 1.5); pretrained[1].bias.uniform_(-0.2, 0.2)
    pretrained[1].running_mean.uniform_(-0.1, 0.1); pretrained[1].running_var.uniform_(0.5, 1.5)
head = nn.Linear(36, 3)
x = torch.randn(4, 1, 6, 6)
y = torch.tensor([0, 1, 2, 1])

def dump(module):
    return {k: {'shape': list(v.shape), 'data': v.detach().reshape(-1).tolist()} for k, v in module.state_dict().items()}

def start():
    model = net(5)
    model.load_state_dict(pretrained.state_dict())
    model[5] = nn.Linear(36, 3)
    model[5].load_state_dict(head.state_dict())
    return model

def steps(model, optimizer, n=2):
    losses = []
    for _ in range(n):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses

frozen = start()
for p in list(frozen[0].parameters()) + list(frozen[1].parameters()): p.requires_grad_(False)
frozen.train(); frozen[1].eval()
frozen_losses = steps(frozen, torch.optim.SGD([p for p in frozen.parameters() if p.requires_grad], lr=0.1,
                                              momentum=0.9, weight_decay=5e-4))

grouped = start().train()
backbone = list(grouped[0].parameters()) + list(grouped[1].parameters())
grouped_losses = steps(grouped, torch.optim.SGD([{'params': backbone, 'lr': 0.01, 'weight_decay': 0},
                                                 {'params': grouped[5].parameters()}],
                                                lr=0.1, momentum=0.9, weight_decay=5e-4))

out = {
    'torch': torch.__version__,
    'pretrained': dump(pretrained), 'head': dump(head),
    'x': {'shape': list(x.shape), 'data': x.reshape(-1).tolist()}, 'y': y.tolist(),
    'frozen': {'losses': frozen_losses, 'after': dump(frozen)},
    'groups': {'losses': grouped_losses, 'after': dump(grouped)},
}
with open(OUT, 'w') as f:
    json.dump(out, f)
print('wrote', OUT, 'losses', frozen_losses, grouped_losses)
