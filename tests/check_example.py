"""check_example.py — runs examples/identity_share (docs/hooks.md) and checks
that every line it prints holds values measured by its hooks: one line per
step, a finite positive loss, an identity share strictly between 0 and 1 for
a residual net (NaN for a plain net, which has no identity part), and a
positive update/weight ratio naming a real tensor."""
import math
import re
import subprocess
import sys

exe = sys.argv[1]
LINE = re.compile(r"step (\d+)  loss (\S+)  identity share at block 0 (\S+)  "
                  r"largest update/weight (\S+) \((\S+)\)$")


def run(model, steps):
    out = subprocess.run([exe, model, str(steps)], capture_output=True, text=True, timeout=100)
    assert out.returncode == 0, f"{model}: exit {out.returncode}: {out.stderr}"
    rows = [LINE.match(l) for l in out.stdout.splitlines()]
    assert len(rows) == steps and all(rows), f"{model}: unexpected output:\n{out.stdout}"
    return [(int(m[1]), float(m[2]), float(m[3]), float(m[4]), m[5]) for m in rows]


res = run("resnet-14", 4)
assert [r[0] for r in res] == [1, 2, 3, 4], res
for step, loss, share, ratio, tensor in res:
    assert math.isfinite(loss) and loss > 0, res
    assert 0 < share < 1, res
    assert math.isfinite(ratio) and ratio > 0 and tensor.endswith(("weight", "bias")), res
assert len({r[1] for r in res}) == 4, "the loss never changed: nothing trained"

plain = run("plain-14", 2)
assert all(math.isnan(r[2]) for r in plain), plain
print("example identity_share: ok", res[-1])
