"""FastAPI's pydantic.v1 model check, answered without importing pydantic.v1.

For every route's parameters and responses FastAPI asks whether a type is a pydantic.v1 model
(only to refuse it), and answers by importing the whole `pydantic.v1` package: about 15 % of the
api's cold-start import. A pydantic.v1 model cannot exist before `pydantic.v1` is imported, so
until then the answer is no; once anything imports it, FastAPI's own check runs (the change
proposed upstream in fastapi/fastapi#16374). `install()` runs before any route is declared
(`api.app` imports this module ahead of the routers).
"""

from __future__ import annotations

import sys
from typing import Any

import fastapi._compat
import fastapi.encoders
from fastapi._compat import shared

_model_class = shared.is_pydantic_v1_model_class
_model_instance = shared.is_pydantic_v1_model_instance


def is_pydantic_v1_model_class(cls: Any) -> bool:
    return "pydantic.v1" in sys.modules and _model_class(cls)


def is_pydantic_v1_model_instance(obj: Any) -> bool:
    return "pydantic.v1" in sys.modules and _model_instance(obj)


def install() -> None:
    # shared.annotation_is_pydantic_v1 looks the class check up in its module at each call;
    # the instance check was imported by name into fastapi._compat and fastapi.encoders.
    shared.is_pydantic_v1_model_class = is_pydantic_v1_model_class
    shared.is_pydantic_v1_model_instance = is_pydantic_v1_model_instance
    fastapi._compat.is_pydantic_v1_model_instance = is_pydantic_v1_model_instance
    fastapi.encoders.is_pydantic_v1_model_instance = is_pydantic_v1_model_instance


install()
