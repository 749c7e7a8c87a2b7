"""snnx.learn: on-line learning on the crossbar.

Rules (each only calls :class:`snnx.hw.Tile`): :class:`BP` (transposed reads),
:class:`DFA` (fixed random feedback on small tiles), :class:`LogSGD` (log-domain leaky
integrator with quantised state). :data:`RULES` is the rule registry: recipe name -> class;
a rule's constructor takes ``lr``, ``seed`` and the fields of its ``Params`` (which a recipe
sets under ``adapt.<rule name>``). :class:`OnlineAdapter` streams samples, predicts every
hop and learns from late labels.

Adding a rule: one file with ``Params`` and the class (see ``docs/architecture.md``) and one
line in :data:`RULES`.
"""

from snnx.config.lazy import lazy_exports
from snnx.config.registry import Registry

RULES = Registry("rule", {
    "bp": ("snnx.learn.bp:BP", "backpropagation: errors down through transposed reads"),
    "dfa": ("snnx.learn.dfa:DFA",
            "direct feedback alignment: output error to every layer through fixed random "
            "feedback tiles, in parallel"),
    "logsgd": ("snnx.learn.logsgd:LogSGD",
               "analog log-domain SGD with L2 leak (integrators on capacitors)"),
})
"""The rule registry: recipe name -> rule class (lazy)."""


def make_rule(name: str, params=None, *, lr: float, seed: int = 0):
    """Build rule ``name`` with learning rate ``lr``, ``seed`` and its Params (or defaults)."""
    import dataclasses

    p = RULES.params(name, params, f"adapt.{name}")
    kwargs = {} if p is None else {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
    return RULES.get(name)(lr=lr, seed=seed, **kwargs)


__getattr__ = lazy_exports(__name__, {
    "OnlineAdapter": "snnx.learn.adapter", "AdapterStateError": "snnx.learn.adapter",
    "BP": "snnx.learn.bp", "DFA": "snnx.learn.dfa", "feedback_matrix": "snnx.learn.dfa",
    "LogSGD": "snnx.learn.logsgd", "sgdr_reference": "snnx.learn.logsgd",
    "Rule": "snnx.learn.rule", "RuleBase": "snnx.learn.rule",
    "analog_layers": "snnx.learn.rule", "apply_updates": "snnx.learn.rule",
    "output_error": "snnx.learn.rule", "Preprocessing": "snnx.learn.preprocess",
    "river_classifier": "snnx.learn.streaming",
})

__all__ = ["RULES", "make_rule", "Rule", "RuleBase", "BP", "DFA", "LogSGD", "OnlineAdapter",
           "AdapterStateError", "feedback_matrix", "sgdr_reference", "output_error",
           "apply_updates", "analog_layers", "Preprocessing", "river_classifier"]
