"""snnx.learn: on-line learning on the crossbar.

Rules (each only calls :class:`snnx.hw.Tile`): :class:`BP` (transposed reads),
:class:`DFA` (fixed random feedback on small tiles), :class:`LogSGD` (log-domain leaky
integrator with quantised state). :data:`RULES` maps the recipe name to the class.
:class:`OnlineAdapter` streams samples, predicts every hop and learns from late labels.
"""

from snnx.learn.adapter import AdapterStateError, OnlineAdapter
from snnx.learn.bp import BP
from snnx.learn.dfa import DFA, feedback_matrix
from snnx.learn.logsgd import LogSGD, sgdr_reference
from snnx.learn.rules import Rule, analog_layers, apply_updates, output_error

RULES: dict[str, type] = {"bp": BP, "dfa": DFA, "logsgd": LogSGD}

__all__ = ["RULES", "Rule", "BP", "DFA", "LogSGD", "OnlineAdapter", "AdapterStateError",
           "feedback_matrix", "sgdr_reference", "output_error", "apply_updates",
           "analog_layers"]
