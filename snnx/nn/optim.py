"""A small Adam for off-chip training that does not import ``torch._dynamo``.

Constructing any ``torch.optim`` optimizer imports torch's compiler stack (~1.1 s and ~84 MB
on this machine: issue 12's start-up profile), which a 10-second ``snnx adapt`` run cannot
afford. :class:`Adam` is the same algorithm as ``torch.optim.Adam`` with its default
single-tensor CPU path, written so that the arithmetic matches operation by operation
(``tests/nn/test_optim.py`` checks bit-equality against torch's).

Reference: Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.

Example:
    >>> import torch
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> opt = Adam([w], lr=0.1)
    >>> (w ** 2).sum().backward(); opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.9, 0.9, 0.9]
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class Adam:
    """Adam with L2 weight decay (as ``torch.optim.Adam``, not AdamW).

    Args:
        params: the parameters to optimise.
        lr: learning rate.
        betas: decay rates of the first and second moment estimates.
        eps: added to the denominator.
        weight_decay: L2 penalty added to the gradient.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        self.params = [p for p in params]
        if not lr > 0:
            raise ValueError(f"lr: must be > 0, got {lr}")
        self.lr, self.betas, self.eps, self.weight_decay = float(lr), betas, eps, weight_decay
        self.state: dict[int, dict] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients (set them to None)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            grad = p.grad
            st = self.state.get(i)
            if st is None:
                st = self.state[i] = {"step": 0, "exp_avg": torch.zeros_like(p),
                                      "exp_avg_sq": torch.zeros_like(p)}
            st["step"] += 1
            if self.weight_decay != 0:
                grad = grad.add(p, alpha=self.weight_decay)
            st["exp_avg"].lerp_(grad, 1 - beta1)
            st["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step = st["step"]
            step_size = self.lr / (1 - beta1 ** step)
            denom = (st["exp_avg_sq"].sqrt() / ((1 - beta2 ** step) ** 0.5)).add_(self.eps)
            p.addcdiv_(st["exp_avg"], denom, value=-step_size)

    def state_dict(self) -> dict:
        """Moment estimates and step counts per parameter index, and the hyper-parameters."""
        return {"state": {str(i): {"step": float(s["step"]), "exp_avg": s["exp_avg"].clone(),
                                   "exp_avg_sq": s["exp_avg_sq"].clone()}
                          for i, s in self.state.items()},
                "param_groups": [{"lr": self.lr, "betas": list(self.betas), "eps": self.eps,
                                  "weight_decay": self.weight_decay}]}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.state = {int(i): {"step": int(s["step"]), "exp_avg": s["exp_avg"].clone(),
                               "exp_avg_sq": s["exp_avg_sq"].clone()}
                      for i, s in state["state"].items()}
