#!/usr/bin/python3
"""Times one AdaRound iteration in plain PyTorch on the layers bench-adaround-step printed.

Reads the JSON lines of bench-adaround-step (geometry and our time per iteration) on stdin and,
for each layer, runs the same recipe written as the references write it (a rounding variable V,
the rectified sigmoid, soft weight on a 4-bit per-channel grid, the layer with its activation,
squared error summed over channels and averaged over the rest plus the rounding regulariser,
backward, Adam step) on random tensors of the same shapes. Prints one line per layer:
label, shapes, our ms, PyTorch ms, ratio. Benchmark only: Debian's python3-torch is installed
by bench/run_recon_bench.sh, never by the tests or the product.

usage: bench-adaround-step MODEL 32 ITERS THREADS | adaround_step_torch.py ITERS THREADS
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

ZETA, GAMMA = 1.1, -0.1


def act_fn(name):
    return {"": lambda y: y, "Relu": F.relu, "SiLU": F.silu, "Sigmoid": torch.sigmoid,
            "LeakyRelu": lambda y: F.leaky_relu(y, 0.01), "HardSwish": F.hardswish}[name]


def time_layer(layer, iters):
    torch.manual_seed(0)
    x = torch.rand(layer["x"]) * 2 - 1
    w = torch.rand(layer["w"]) * 2 - 1
    b = torch.rand(layer["w"][0]) if layer["bias"] else None
    scale = w.abs().flatten(1).amax(1).clamp_min(1e-8).view(-1, 1, 1, 1) / 7
    w_floor = torch.floor(w / scale)
    rest = w / scale - w_floor
    v = torch.nn.Parameter(-torch.log((ZETA - GAMMA) / (rest - GAMMA) - 1))
    opt = torch.optim.Adam([v], lr=1e-3)
    act = act_fn(layer["act"])
    pads = layer["pads"]
    conv_args = dict(stride=layer["strides"], dilation=layer["dilations"], groups=layer["group"])
    with torch.no_grad():
        y0 = act(F.conv2d(F.pad(x, (pads[1], pads[3], pads[0], pads[2])), w, b, **conv_args))
    target = torch.rand_like(y0) * 2 - 1
    beta, lam = 10.0, 0.01

    def step():
        h = torch.clamp(torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0, 1)
        w_soft = scale * torch.clamp(w_floor + h, -8, 7)
        xp = x if sum(pads) == 0 else F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
        y = act(F.conv2d(xp, w_soft, b, **conv_args))
        rec = (y - target).pow(2).sum(1).mean()
        reg = lam * (1 - (2 * h - 1).abs().pow(beta)).sum()
        opt.zero_grad()
        (rec + reg).backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - t0) * 1000 / iters


def main():
    iters, threads = int(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(threads)
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        layer = json.loads(line)
        ms = time_layer(layer, iters)
        print(f"| {layer['label']} ({layer['node']}, {layer['kind']}) | x {layer['x']} w {layer['w']} group "
              f"{layer['group']} stride {layer['strides'][0]} | {layer['ms']:.1f} | {ms:.1f} | {layer['ms'] / ms:.2f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
