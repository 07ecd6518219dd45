"""Service registry backends: in-process by default, Redis protocol at scale.

``open_registry`` picks the backend from the cache URL's scheme. This module also holds
the checks both backends apply, so that they refuse the same inputs with the same errors.
"""

from __future__ import annotations

import json
import math
from urllib.parse import urlsplit

from chainflow.core.clock import Clock
from chainflow.core.errors import ConfigurationError, InvalidInput
from chainflow.core.logging import redact_url
from chainflow.core.optional import load_backend
from chainflow.hub.api import ServiceInstance, ServiceRegistry

MEMORY_SCHEMES = ("memory",)
REDIS_SCHEMES = ("redis", "rediss", "unix")
ACCEPTED_SCHEMES = MEMORY_SCHEMES + REDIS_SCHEMES


def open_registry(cache_url: str, ttl_s: float, clock: Clock, key_prefix: str) -> ServiceRegistry:
    """Build the registry that lives where ``cache_url`` points; instances live ``ttl_s``."""
    validate_ttl_s(ttl_s)
    scheme = urlsplit(cache_url).scheme.lower()
    if scheme in MEMORY_SCHEMES:
        from chainflow.hub.registry.memory import InProcessRegistry

        return InProcessRegistry(clock, ttl_s=ttl_s)
    if scheme in REDIS_SCHEMES:
        backend_class = load_backend(
            "chainflow.hub.registry.redis_registry",
            "RedisRegistry",
            library="redis",
            extra="redis",
            purpose=f"registry URL {redact_url(cache_url)!r}",
        )
        return backend_class(cache_url, clock, ttl_s=ttl_s, key_prefix=key_prefix)
    accepted = ", ".join(f"{s}://" for s in ACCEPTED_SCHEMES)
    raise ConfigurationError(
        f"registry URL must start with one of {accepted}; received {redact_url(cache_url)!r}"
    )


def validate_ttl_s(ttl_s: float) -> None:
    """Raise ``ConfigurationError`` unless ``ttl_s`` is a positive finite number."""
    if not (ttl_s > 0 and math.isfinite(ttl_s)):
        raise ConfigurationError(
            f"registry instance TTL must be a positive number of seconds; received {ttl_s!r}"
        )


def encode_instance(instance: ServiceInstance) -> str:
    """Return ``instance`` as JSON, refusing an empty id or service name and non-JSON meta."""
    if not instance.instance_id:
        raise InvalidInput("service instance_id must be a non-empty string; received ''")
    if not instance.services or not all(instance.services):
        raise InvalidInput(
            "service instance must host at least one service, each with a non-empty name; "
            f"received {list(instance.services)!r}"
        )
    try:
        return json.dumps(instance.to_dict(), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidInput(
            f"service instance {instance.instance_id!r} meta must be JSON-serializable; "
            f"received {e}"
        ) from e
