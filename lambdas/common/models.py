"""The base of the handlers' pydantic models (their settings aside): built at first use."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A pydantic model whose validator and serializer are built when first needed (pydantic's
    `defer_build`) rather than when its module is imported: a cold start builds the models of the path
    its event takes (an ignored event, an alert, a deployment), not every model of the handler. The
    settings, validated at import, are not: they would be built at once anyway."""

    model_config = ConfigDict(defer_build=True)
