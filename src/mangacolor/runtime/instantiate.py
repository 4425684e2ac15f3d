"""`hydra.utils.instantiate`, with a constructor's `ConfigError` raised as itself.

Hydra wraps whatever a `_target_`'s constructor raises in an `InstantiationException`. A rule that
lives in a constructor (the model's own values, checked in `Pix2Pix.__init__`) raises `ConfigError`
naming its key: that is the user's mistake, which a command reports in one line, not a traceback.
"""

from __future__ import annotations

from typing import Any

import hydra
from hydra.errors import InstantiationException

from mangacolor.runtime.config_errors import ConfigError


def instantiate(config: Any, **overrides: Any) -> Any:
    """What `config` names by `_target_`, built; a ConfigError raised in building it is
    re-raised."""
    try:
        return hydra.utils.instantiate(config, **overrides)
    except InstantiationException as error:
        cause = error.__cause__
        while cause is not None and not isinstance(cause, ConfigError):
            cause = cause.__cause__
        if cause is None:
            raise
        raise cause from None
