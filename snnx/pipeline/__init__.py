"""snnx.pipeline: a recipe run end to end (``snnx adapt``), in phases.

* :mod:`~snnx.pipeline.recipe` / :mod:`~snnx.pipeline.recipe_files` -- the recipe schema,
  overrides and shipped recipes (torch-free);
* :mod:`~snnx.pipeline.data` -- roles, splits, stream order, scaling;
* :mod:`~snnx.pipeline.model` -- building the network and the rule, measuring, chip state;
* :mod:`~snnx.pipeline.pretrain`, :mod:`~snnx.pipeline.deploy`, :mod:`~snnx.pipeline.loop`
  -- the phases;
* :mod:`~snnx.pipeline.report`, :mod:`~snnx.pipeline.compare` -- report.json, figures,
  summaries, ``snnx compare``;
* :mod:`~snnx.pipeline.folder`, :mod:`~snnx.pipeline.run` -- the run folder, resume and
  locking; :class:`Run` strings the phases together;
* :mod:`~snnx.pipeline.evaluate` -- ``snnx eval``;
* :mod:`~snnx.pipeline.checks` -- classes and the memory estimate, before any work;
* :mod:`~snnx.pipeline.deployed` -- ``snnx.load_run``: a run as one object (chip, rule,
  preprocessing), export, save;
* :mod:`~snnx.pipeline.stream` -- ``snnx stream``: sources and the live loop.
"""

from snnx.config.lazy import lazy_exports

__getattr__ = lazy_exports(__name__, {
    "Recipe": "snnx.pipeline.recipe", "build_recipe": "snnx.pipeline.recipe",
    "apply_overrides": "snnx.pipeline.recipe", "load_recipe": "snnx.pipeline.recipe_files",
    "list_recipes": "snnx.pipeline.recipe_files", "Run": "snnx.pipeline.run",
    "reevaluate": "snnx.pipeline.evaluate", "load_run": "snnx.pipeline.deployed",
    "Deployed": "snnx.pipeline.deployed",
})

__all__ = ["Deployed", "Recipe", "Run", "apply_overrides", "build_recipe", "list_recipes",
           "load_recipe", "load_run", "reevaluate"]
