"""Prompt variables: the agent's own, checked when the agent is created, and the platform's,
worked out for every model call. Both go out as `prompt.variables` (Responses API) whenever
the agent uses a dashboard prompt, so a template can say "Hello {{customer_name}}".
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.errors import ValidationFailed
from app.models import Agent

# Every variable travels with every model call: a few short strings, not a knowledge base.
MAX_PROMPT_VARIABLES = 20
MAX_VARIABLE_NAME_CHARS = 64
MAX_VARIABLE_VALUE_CHARS = 1000
MAX_TIME_ZONE_CHARS = 64
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class PlatformVariable(StrEnum):
    """Variables the platform fills in on every call; an agent may not define them itself."""

    CUSTOMER_NAME = "customer_name"  # the profile name the channel gave us, or ""
    CHANNEL_KIND = "channel_kind"  # whatsapp, instagram or webchat
    BUSINESS_NAME = "business_name"  # the channel's display name, else the tenant's name
    LOCAL_DATE = "local_date"  # YYYY-MM-DD in the agent's time zone


@dataclass(frozen=True)
class CallContext:
    """What the platform's variables are made of, read with the batch's claim."""

    customer_name: str
    channel_kind: str
    business_name: str


def validate_variables(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The agent's own variables as stored, or ValidationFailed naming the field."""
    out: dict[str, str] = {}
    reserved = {v.value for v in PlatformVariable}
    for name, value in pairs:
        if not _NAME.fullmatch(name) or len(name) > MAX_VARIABLE_NAME_CHARS:
            raise ValidationFailed(
                f"promptVariables: {name[:80]!r} is not a variable name (letters, digits and _, "
                f"not starting with a digit, at most {MAX_VARIABLE_NAME_CHARS} characters)"
            )
        if name in reserved:
            raise ValidationFailed(f"promptVariables: {name} is set by the platform")
        if name in out:
            raise ValidationFailed(f"promptVariables: {name} is given twice")
        if len(value) > MAX_VARIABLE_VALUE_CHARS:
            raise ValidationFailed(
                f"promptVariables: {name} is longer than {MAX_VARIABLE_VALUE_CHARS} characters"
            )
        out[name] = value
    if len(out) > MAX_PROMPT_VARIABLES:
        raise ValidationFailed(f"promptVariables: at most {MAX_PROMPT_VARIABLES} variables")
    return out


def validate_time_zone(name: str) -> str:
    name = name.strip()
    try:
        if len(name) > MAX_TIME_ZONE_CHARS:
            raise ValueError(name)
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ValidationFailed(
            f"timeZone: {name[:80]!r} is not an IANA time zone (e.g. America/Mexico_City)"
        ) from None
    return name


def prompt_variables(agent: Agent, ctx: CallContext, now: datetime) -> dict[str, str]:
    """What one model call sends: the agent's variables and the platform's."""
    local = now.astimezone(zoneinfo.ZoneInfo(agent.time_zone)).date()
    platform = {
        PlatformVariable.CUSTOMER_NAME.value: ctx.customer_name,
        PlatformVariable.CHANNEL_KIND.value: ctx.channel_kind,
        PlatformVariable.BUSINESS_NAME.value: ctx.business_name,
        PlatformVariable.LOCAL_DATE.value: local.isoformat(),
    }
    return {**{str(k): str(v) for k, v in agent.prompt_variables.items()}, **platform}
