"""Loading a handler module, and answering its first request, for less: an API handler module calls
`begin()` before its imports and wraps its handler in `ends_after_first_answer`.
docs/decisions/0002-cold-start-budget.md says why; docs/benchmarks.md has the figures.

- The cyclic garbage collector is off until the first answer is sent. A cold start creates a few
  hundred thousand objects that live as long as the process: modules, classes and functions while
  the module loads, then, as the first request is answered, the clients, their endpoint rule sets
  and operation models, and pydantic's validators. With the collector on, Python scans them again
  and again as they pile up, to free nothing (a tenth of an API function's cold start). Then
  `gc.freeze` moves them to the permanent generation, so that the collections of warm requests skip
  them too, and the collector is turned back on.
- pydantic does not look for plugins: it would read the metadata of every installed distribution
  when it builds its first model, and none is installed. (PYDANTIC_DISABLE_PLUGINS is pydantic's
  switch; a value set in the function's environment wins.)
"""

import functools
import gc
import os
from collections.abc import Callable
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])


def begin() -> None:
    gc.disable()
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def end() -> None:
    gc.freeze()
    gc.enable()


def ends_after_first_answer(handler: Handler) -> Handler:
    """`handler`, which ends the cold start (`end()`) once it has answered its first event, or failed to."""
    ended = False

    @functools.wraps(handler)
    def answering(*args: Any, **kwargs: Any) -> Any:
        nonlocal ended
        try:
            return handler(*args, **kwargs)
        finally:
            if not ended:
                ended = True
                end()

    return answering  # type: ignore[return-value]
