#!/usr/bin/python3
"""torch_bench.py - the PyTorch side of gradflow's training-speed benchmark.

Trains the same CIFAR-family network as bench_train (the definitions of
/work/shared/reference/FORMAT.md: plain / resnet with option A or B shortcut,
stage widths 16/32/64, BN eps 1e-5 momentum 0.1, 64 -> classes linear head) on
one seeded synthetic batch for W warm-up and S timed steps, each step being

    logits = model(x); loss = cross_entropy(logits, y)
    opt.zero_grad(); loss.backward(); opt.step()

with torch.optim.SGD(lr 0.1, momentum 0.9, weight_decay 1e-4), and prints one
line of key=value pairs starting "BENCH", with the same keys as bench_train.
Images/s is batch / the median timed step (sec_step; mean and minimum printed
too); cpus_used is this process's CPU seconds per wall second and others_cpus
the CPUs other processes kept busy meanwhile (from /proc/stat), which says how
much a shared machine disturbed the run. --channels-last runs the model and
input in NHWC (torch.channels_last) instead of the default NCHW.

FLOP convention (flops=3xfwd), identical to bench_train.c: forward FLOPs are the
conv and linear matrix-product FLOPs (2*Co*Ci*K*K*Ho*Wo per conv, 2*In*Out for
the linear, per image); a training step is 3 x forward. gflop_img_exact skips
the stem conv's dx, which autograd does not compute for an input that does not
require a gradient. Elementwise ops (BN, ReLU, add, pad, pool, loss, SGD) are
not counted.

Peak memory: resource.getrusage(RUSAGE_SELF).ru_maxrss of this process in MiB,
which includes the Python interpreter and the torch libraries (base_rss_mb is
the peak right after `import torch`, before the model exists). Run one
configuration per process.

Run with Debian's interpreter (/usr/bin/python3, package python3-torch):
    /usr/bin/python3 bench/torch_bench.py --model resnet-20 --input 3x32x32 --threads 2
"""
import argparse
import os
import re
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def machine_busy_s():
    """CPU seconds the whole machine has been busy (all processes, all CPUs):
    /proc/stat's cpu line, every field but idle and iowait. None if unreadable."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def self_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


BASE_RSS = rss_mb()  # the interpreter plus the torch libraries, before any model


def parse_model(name):
    """'resnet-20', 'plain-56', 'resnet-20-B' -> (family, n, shortcut)."""
    m = re.fullmatch(r"(plain|resnet)-(\d+)(?:-([AB]))?", name)
    if not m or (int(m.group(2)) - 2) % 6 or int(m.group(2)) < 8:
        sys.exit("torch_bench: model must be plain-N or resnet-N[-A|-B] with N = 6n+2 >= 8, "
                 f"got {name!r}")
    family, depth, sc = m.group(1), int(m.group(2)), m.group(3)
    if family == "plain" and sc:
        sys.exit("torch_bench: plain networks have no shortcut option")
    return family, (depth - 2) // 6, (sc or "A") if family == "resnet" else None


def build_model(family, n, shortcut, in_c, classes=10, widths=(16, 32, 64)):
    """The FORMAT.md network, with its PyTorch state_dict module names."""

    class LambdaLayer(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x):
            return self.fn(x)

    class Block(nn.Module):
        # plain:  y = relu2(bn2(conv2(relu1(bn1(conv1 x)))))
        # resnet: y = relu2(bn2(conv2(relu1(bn1(conv1 x)))) + S x)   He et al. 2015
        def __init__(self, cin, cout, stride, residual, option):
            super().__init__()
            self.residual = residual
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
            self.relu1 = nn.ReLU()
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
            self.relu2 = nn.ReLU()
            if residual and (stride != 1 or cin != cout):
                if option == "A":
                    p = (cout - cin) // 2
                    self.shortcut = LambdaLayer(
                        lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p)))
                else:
                    self.shortcut = nn.Sequential(
                        nn.Conv2d(cin, cout, 1, stride, 0, bias=False),
                        nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1))
            else:
                self.shortcut = nn.Identity()

        def forward(self, x):
            out = self.relu1(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.residual:
                out = out + self.shortcut(x)
            return self.relu2(out)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(in_c, widths[0], 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0], eps=1e-5, momentum=0.1)
            self.relu = nn.ReLU()
            cin = widths[0]
            for s, w in enumerate(widths):
                blocks = []
                for i in range(n):
                    stride = 2 if s > 0 and i == 0 else 1
                    blocks.append(Block(cin, w, stride, family == "resnet", shortcut))
                    cin = w
                setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.linear = nn.Linear(widths[-1], classes)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer3(self.layer2(self.layer1(x)))
            return self.linear(torch.flatten(self.avgpool(x), 1))

    net = Net()
    for m in net.modules():  # same init as gf_net_init: Kaiming normal, fan-in
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    return net


def count_flops(net, in_shape):
    """Per-image (3 x forward, exact) FLOPs by the convention in the docstring."""
    fwd, exact, first = [0.0], [0.0], [True]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            ci = m.in_channels // m.groups
            f = 2.0 * m.out_channels * ci * k * out.shape[2] * out.shape[3]
        else:
            f = 2.0 * m.in_features * m.out_features
        fwd[0] += f
        exact[0] += f * (2.0 if first[0] else 3.0)  # the stem's dx is not computed
        first[0] = False

    hs = [m.register_forward_hook(hook) for m in net.modules()
          if isinstance(m, (nn.Conv2d, nn.Linear))]
    was = net.training
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, *in_shape))
    net.train(was)
    for h in hs:
        h.remove()
    return 3.0 * fwd[0], exact[0]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", default="3x32x32")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None, help="default: nproc")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--channels-last", action="store_true",
                    help="model and input in torch.channels_last (NHWC) memory format")
    return ap.parse_args()


def run_steps(net, opt, x, y, warmup, steps):
    """Warm-up, then timed steps. Returns (per-step seconds, phase sums
    [forward+loss, zero_grad+backward, step], cpus_used, others_cpus, loss)."""

    def step(t=None):
        t0 = time.perf_counter()
        loss = F.cross_entropy(net(x), y)
        t1 = time.perf_counter()
        opt.zero_grad()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if t is not None:
            t[0] += t1 - t0
            t[1] += t2 - t1
            t[2] += t3 - t2
        return loss.item()

    loss = 0.0
    for _ in range(warmup):
        loss = step()
    busy0, self0 = machine_busy_s(), self_cpu_s()
    phases, dt = [0.0, 0.0, 0.0], []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step(phases)
        dt.append(time.perf_counter() - t0)
    busy1, self1 = machine_busy_s(), self_cpu_s()
    elapsed = sum(dt)
    cpus_used = (self1 - self0) / elapsed
    others = -1.0 if busy0 is None or busy1 is None else \
        max(0.0, ((busy1 - busy0) - (self1 - self0)) / elapsed)
    return dt, phases, cpus_used, others, loss


def main():
    a = parse_args()
    in_shape = tuple(int(v) for v in a.input.split("x"))
    family, n, shortcut = parse_model(a.model)
    torch.set_num_threads(a.threads or os.cpu_count())
    torch.manual_seed(a.seed)
    net = build_model(family, n, shortcut, in_shape[0])
    net.train()
    flop_3x, flop_exact = count_flops(net, in_shape)
    x = torch.randn(a.batch, *in_shape)
    if a.channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    y = torch.randint(0, 10, (a.batch,))

    dt, t, cpus_used, others, loss = run_steps(net, opt, x, y, a.warmup, a.steps)
    med = statistics.median(dt)
    img_s = a.batch / med  # the median step: robust to a noisy neighbour
    name = f"{family}-{6 * n + 2}" + ("-B" if shortcut == "B" else "")
    conv = "mkldnn" if torch.backends.mkldnn.is_available() and \
        torch.backends.mkldnn.enabled else "native"
    ms = lambda s: f"{1e3 * s / a.steps:.1f}"  # noqa: E731
    print(f"BENCH impl=torch model={name} input={a.input} batch={a.batch} "
          f"threads={torch.get_num_threads()} warmup={a.warmup} steps={a.steps} "
          f"sec_step={med:.4f} mean_sec_step={sum(dt) / a.steps:.4f} "
          f"min_sec_step={min(dt):.4f} fwd_ms={ms(t[0])} bwd_ms={ms(t[1])} "
          f"sgd_ms={1e3 * t[2] / a.steps:.2f} img_s={img_s:.2f} "
          f"gflop_img_3x={flop_3x / 1e9:.6f} gflop_img_exact={flop_exact / 1e9:.6f} "
          f"gflop_s={img_s * flop_3x / 1e9:.2f} flops=3xfwd peak_rss_mb={rss_mb():.1f} "
          f"base_rss_mb={BASE_RSS:.1f} loss={loss:.4f} cpus_used={cpus_used:.2f} "
          f"others_cpus={others:.2f} torch={torch.__version__} conv={conv} "
          f"layout={'nhwc' if a.channels_last else 'nchw'}", flush=True)


if __name__ == "__main__":
    main()
