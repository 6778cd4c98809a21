"""PyTorch's side of crates/sculpt-flux/examples/conv_train_step.rs (see there)."""
import time

import torch

torch.set_num_threads(1)
x = torch.randn(8, 32, 64, 64, requires_grad=True)
w = (torch.randn(32, 32, 3, 3) * 0.06).requires_grad_()
times = []
for _ in range(5):
    t = time.time()
    y = torch.nn.functional.conv2d(x, w, padding=1)
    y.pow(2).mean().backward()
    times.append(time.time() - t)
print(f"torch conv3x3 32->32, 8x64x64, forward+backward: median {sorted(times)[2] * 1e3:.1f} ms")
