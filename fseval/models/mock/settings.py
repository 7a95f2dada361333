"""The mock family's arguments, and its entry in the model registry."""

from __future__ import annotations

from pydantic import Field

from fseval.models.settings import Family, FamilySettings

MODES = ("majority", "copy-demo", "field", "constant")


class MockSettings(FamilySettings):
    """``--model-arg`` keys of the mock."""

    mode: str = Field(default="majority", description=f"one of {', '.join(MODES)}")
    field: str = Field(default="answers", description="mode=field: the reference field answered")
    text: str = Field(default="", description="mode=constant: the answer")
    suffix: str = Field(default="", description="appended to every generation")
    crash_after: int = Field(default=0, ge=0, description="tests: raise after this many model calls")
    kill_after: int = Field(default=0, ge=0, description="tests: SIGKILL after this many model calls")
    interrupt_after: int = Field(default=0, ge=0, description="tests: SIGINT after this many model calls")
    terminate_after: int = Field(default=0, ge=0, description="tests: SIGTERM after this many model calls")


FAMILY = Family(
    "mock",
    "Deterministic test model (mode=majority|copy-demo|field|constant)",
    MockSettings,
    "fseval.models.mock:build",
    takes_device=False,
    compat_modes=("openflamingo",),  # its scores have no batch to depend on; the prompts follow
)
