"""snnx.config: schemas, strict YAML, ``a.b=v`` overrides, registries, secrets and seeds.

Everything that validates user input lives here and imports only the standard library and
PyYAML (never torch), so recipes and hardware models are checked in milliseconds.

* :mod:`~snnx.config.schema` -- frozen dataclass configs built strictly (:func:`build`),
  fields with bounds and docs (:func:`spec`), registry choices (:func:`choice`,
  :func:`plugins`).
* :mod:`~snnx.config.registry` -- :class:`Registry`, the one registry shape, and
  :func:`suggest`, the one "did you mean".
* :mod:`~snnx.config.overrides` -- ``--set key.path=value``.
* :mod:`~snnx.config.yamlio` -- strict YAML, shipped data folders.
* :mod:`~snnx.config.secrets` -- which names hold secrets; redaction.
* :mod:`~snnx.config.seeds` -- the seed table.
"""

from snnx.config.overrides import flatten, merge, parse_override, set_path
from snnx.config.registry import Entry, Registry, suggest
from snnx.config.schema import (KW, FrozenDict, blocks, build, cfg_blocks, check_value, choice,
                                chosen, describe, field_docs, plugins, spec, to_dict)
from snnx.config.secrets import REDACTED, SECRET_NAMES, is_secret, redact
from snnx.config.seeds import derive, sequence
from snnx.config.yamlio import dump, one_line, read_yaml, shipped_dir

__all__ = ["KW", "Entry", "FrozenDict", "REDACTED", "Registry", "SECRET_NAMES", "blocks",
           "build", "cfg_blocks", "check_value", "choice", "chosen", "derive", "describe",
           "dump", "field_docs", "flatten", "is_secret", "merge", "one_line", "parse_override",
           "plugins", "read_yaml", "redact", "sequence", "set_path", "shipped_dir", "spec",
           "suggest", "to_dict"]
