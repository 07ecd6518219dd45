"""Settings and tool-mode kernels for the CLI's commands, imported only when one runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from chainflow.cli.output import fail

if TYPE_CHECKING:
    from pydantic import ValidationError

    from chainflow.core.settings import Settings

T = TypeVar("T")


def load_settings(**overrides: Any) -> Settings:
    """Return the settings from the environment; end the command naming a bad variable."""
    from pydantic import ValidationError

    from chainflow.core.settings import Settings

    try:
        settings = Settings()
    except ValidationError as e:
        fail("invalid settings:\n" + "\n".join(describe_settings_error(e)))
    return settings.model_copy(update=overrides) if overrides else settings


def describe_settings_error(error: ValidationError) -> list[str]:
    """Return one line per invalid setting, named by its environment variable."""
    from chainflow.core.settings import Settings

    # Each area is read by its own model; the error's title names the model that failed.
    prefix = "CHAINFLOW_"
    for field in Settings.model_fields.values():
        model = field.annotation
        if isinstance(model, type) and model.__name__ == error.title:
            prefix = str(model.model_config.get("env_prefix", prefix))
    lines = []
    for err in error.errors(include_url=False):
        where = prefix + "_".join(str(p) for p in err["loc"]).upper()
        lines.append(f"  {where}: {err['msg']}")
    return lines


async def with_kernel(services: str, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``action(kernel)`` on a started kernel that does not register or serve."""
    from chainflow.runtime.kernel import Kernel

    kernel = Kernel(load_settings(), services=services)
    await kernel.start(serving=False)
    try:
        return await action(kernel)
    finally:
        await kernel.stop()


async def with_store(services: str, action: Callable[[Any], Awaitable[T]]) -> T:
    """Like ``with_kernel``, with the time-series store open (no server may hold it)."""

    async def on_kernel(kernel: Any) -> T:
        store = kernel.infra.timeseries
        await store.start()  # tool-mode kernels leave it closed: a server may hold it
        try:
            return await action(kernel)
        finally:
            await store.close()

    return await with_kernel(services, on_kernel)
