#!/usr/bin/env python3
"""The PyTorch side of the side by side (issue 25): the nets of nets.json built with torch.nn, timed
the way src/bench/peer/side-by-side.ts times the project's (same batch, same training step: AdamW,
label smoothing 0.1; warm-up steps, then timed steps; images/s), on the threads asked for.

  python3 torch_train.py --threads 2 --seconds 3 [--nets 2-conv,resnet8] [--formats nchw,channels_last] [--modes train,forward]
  python3 torch_train.py --params            # trainable parameters per net, no timing

Prints one JSON object per line: {"net", "mode", "batch", "format", "imagesPerSec", "steps", "params"}.
The BLAS is the process's: run it with LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread for
Debian's OpenBLAS instead of its reference BLAS.
"""
import argparse
import json
import os
import time

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class Residual(nn.Module):
    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


def conv(in_c, filters, kernel, stride=1, bias=False, groups=1):
    # 'same' padding (symmetric here; Keras pads the extra pixel of a stride-2 layer at the end)
    return nn.Conv2d(in_c, filters, kernel, stride=stride, padding=kernel // 2, bias=bias, groups=groups)


def bn(c):
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


def inverted_residual(in_c, t, c, stride):
    layers = []
    hidden = in_c * t
    if t != 1:
        layers += [conv(in_c, hidden, 1), bn(hidden), nn.ReLU6(inplace=True)]
    layers += [conv(hidden, hidden, 3, stride, groups=hidden), bn(hidden), nn.ReLU6(inplace=True)]
    layers += [conv(hidden, c, 1), bn(c)]
    body = nn.Sequential(*layers)
    return (Residual(body, nn.Identity()) if stride == 1 and in_c == c else body), c


def build_layers(specs, shape, classes):
    """nn.Sequential of the layer specs for an input of shape [C, H, W]; returns it and the output shape."""
    c, h, w = shape
    flat = None
    mods = []
    for s in specs:
        op = s["op"]
        if op == "conv":
            stride = s.get("stride", 1)
            mods.append(conv(c, s["filters"], s["kernel"], stride, s.get("bias", False)))
            c, h, w = s["filters"], -(-h // stride), -(-w // stride)
        elif op == "dwconv":
            stride = s.get("stride", 1)
            mods.append(conv(c, c, s["kernel"], stride, s.get("bias", False), groups=c))
            h, w = -(-h // stride), -(-w // stride)
        elif op == "bn":
            mods.append(bn(c))
        elif op == "relu":
            mods.append(nn.ReLU(inplace=True))
        elif op == "relu6":
            mods.append(nn.ReLU6(inplace=True))
        elif op == "maxpool":
            mods.append(nn.MaxPool2d(2, 2, ceil_mode=True))  # Keras 'same'
            h, w = -(-h // 2), -(-w // 2)
        elif op == "gap":
            mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            flat = c
        elif op == "flatten":
            mods.append(nn.Flatten())
            flat = c * h * w
        elif op == "dense":
            units = classes if s["units"] == "classes" else s["units"]
            mods.append(nn.Linear(flat, units))
            flat = units
        elif op == "dropout":
            mods.append(nn.Dropout(s["rate"]))
        elif op == "residual":
            body, out = build_layers(s["body"], (c, h, w), classes)
            shortcut, _ = build_layers(s.get("shortcut", []), (c, h, w), classes)
            mods.append(Residual(body, shortcut if len(s.get("shortcut", [])) else nn.Identity()))
            c, h, w = out
        elif op == "invres":
            for i in range(s["n"]):
                stride = s["s"] if i == 0 else 1
                block, c = inverted_residual(c, s["t"], s["c"], stride)
                mods.append(block)
                h, w = -(-h // stride), -(-w // stride)
        else:
            raise ValueError(f"nets.json: unknown layer op {op!r}")
    return nn.Sequential(*mods), (c, h, w)


def load_nets(path):
    with open(path) as f:
        data = json.load(f)
    nets = []
    for n in data["nets"]:
        layers = n["layers"]
        if isinstance(layers, str):
            layers = data["layerLists"][layers]
        nets.append(dict(n, layers=layers))
    return nets


def build(net):
    h, w, c = net["input"]
    model, _ = build_layers(net["layers"], (c, h, w), net["classes"])
    return model


def params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def measure(net, mode, batch, fmt, seconds, warmup=2, min_steps=3):
    torch.manual_seed(1)
    model = build(net)
    h, w, c = net["input"]
    x = torch.randn(batch, c, h, w)
    y = torch.randint(0, net["classes"], (batch,))
    mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=mf)
    x = x.contiguous(memory_format=mf)
    if mode == "train":
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()

    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(x)

    for _ in range(warmup):
        step()
    steps = 0
    t0 = time.perf_counter()
    elapsed = 0.0
    while steps < min_steps or elapsed < seconds:
        step()
        steps += 1
        elapsed = time.perf_counter() - t0
    return steps * batch / elapsed, steps, params(model)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nets-json", default=os.path.join(HERE, "nets.json"))
    ap.add_argument("--nets", default="")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--formats", default="nchw,channels_last")
    ap.add_argument("--modes", default="train,forward")
    ap.add_argument("--params", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    wanted = set(filter(None, a.nets.split(",")))
    nets = [n for n in load_nets(a.nets_json) if not wanted or n["name"] in wanted]
    if a.params:
        for n in nets:
            print(json.dumps({"net": n["name"], "params": params(build(n))}), flush=True)
        return
    for n in nets:
        for case in [c for c in n["cases"] if c["mode"] in a.modes.split(",")]:
            for fmt in filter(None, a.formats.split(",")):
                ips, steps, p = measure(n, case["mode"], case["batch"], fmt, a.seconds)
                row = {"net": n["name"], "mode": case["mode"], "batch": case["batch"], "format": fmt, "imagesPerSec": ips, "steps": steps, "params": p}
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
