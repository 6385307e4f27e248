"""ProviderNode: a node that wraps a provider object (a VAD, an STT...) and still fits in a spec.

A provider is a live object (a loaded model, an HTTP session), not configuration, so a spec cannot
hold it. A provider node therefore takes its provider either directly (``VADNode(SileroVAD())``,
the Python way) or by the name of a per-job resource (``provider: "vad"`` in its config, the spec
way): the runtime's ``resources`` (``GraphRuntime(graph, resources={"vad": vad})``, or the
session's, which always offers ``vad``, ``stt``, ``llm`` and ``tts``) supply it when it is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import Field

from .node import BuildContext, Node, NodeConfig

__all__ = ["ProviderNode", "ProviderNodeConfig"]

P = TypeVar("P")


class ProviderNodeConfig(NodeConfig):
    provider: str = Field("", description="resource that supplies the provider when none is given")


class ProviderNode(Node, Generic[P]):
    """Base of provider nodes. Subclasses set ``provider_type`` and ``resource`` (default name)."""

    kind = "provider"
    Config: ClassVar[type[NodeConfig]] = ProviderNodeConfig
    provider_type: ClassVar[type[Any]] = object
    resource: ClassVar[str] = ""

    def __init__(self, provider: P | None = None, config: NodeConfig | None = None, *,
                 name: str | None = None, **options: Any) -> None:
        super().__init__(config, name=name, **options)
        self.provider = provider

    @property
    def resource_name(self) -> str:
        return getattr(self.config, "provider", "") or type(self).resource

    @classmethod
    def from_spec_config(cls, data: Mapping[str, Any]) -> Node:
        return cls(None, config=cls.Config.model_validate(data))

    def summary(self) -> str:
        given = type(self.provider).__name__ if self.provider is not None else None
        parts = [given or f"resource {self.resource_name!r}"]
        rest = super().summary()
        return ", ".join([*parts, rest] if rest else parts)

    def resolve_provider(self, ctx: BuildContext) -> P:
        """The provider given at construction, else the job's resource of that name."""
        if self.provider is not None:
            return self.provider
        found = ctx.resources.get(self.resource_name)
        if found is None:
            raise LookupError(
                f"node {ctx.node or self.name!r} has no {self.provider_type.__name__}: pass one "
                f"to {type(self).__name__}(...) or give the runtime a resource "
                f"{self.resource_name!r}"
            )
        if not isinstance(found, self.provider_type):
            raise TypeError(
                f"resource {self.resource_name!r} of node {ctx.node or self.name!r} is a "
                f"{type(found).__name__}, not a {self.provider_type.__name__}"
            )
        return found  # type: ignore[no-any-return]
