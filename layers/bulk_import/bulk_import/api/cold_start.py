"""Loading a handler module for less: an API handler module calls `begin()` before its imports and
`end()` once its routes are declared. docs/benchmarks.md has the figures.

- The cyclic garbage collector is off in between. A cold start creates a few hundred thousand
  objects (modules, classes, functions, pydantic's validators) that live as long as the process;
  with the collector on, Python scans them again and again as they pile up, to free nothing (a
  tenth of an API function's cold start). `end()` moves them to the permanent generation
  (gc.freeze), so that the collections of warm requests skip them too, and turns it back on.
- pydantic does not look for plugins: it would read the metadata of every installed distribution
  when it builds its first model, and none is installed. (PYDANTIC_DISABLE_PLUGINS is pydantic's
  switch; a value set in the function's environment wins.)
"""

import gc
import os


def begin() -> None:
    gc.disable()
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def end() -> None:
    gc.freeze()
    gc.enable()
