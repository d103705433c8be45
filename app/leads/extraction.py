"""The extraction model call: a strict JSON schema through the Responses API, then validation.

`responses.parse(text_format=LeadExtraction)` sends the pydantic model as a strict json_schema
and validates the answer with the same model, so every rule below (scores 1-3, an e-mail that
looks like one, an aware demo datetime) applies to what the model returns. Anything that does
not pass is an `InvalidExtraction`: nothing of it is stored, and the conversation is tried
again at the next interval.
"""

from __future__ import annotations

import json
import logging
import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import pydantic
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from app.ai.guard import ModelError, accept, guarded
from app.metrics import MODEL_ERRORS
from app.runtime import Runtime

log = logging.getLogger("app.leads")

# Used when the conversation has no agent any more (deleted, archived with the channel).
DEFAULT_MODEL = "gpt-4.1-mini"
# Generous on purpose: reasoning models spend part of it thinking, and a cut-off answer is
# invalid JSON (retried, at a cost). Only the tokens actually used are billed.
MAX_OUTPUT_TOKENS = 4000

# Deliberately loose: one "@", no spaces, a dot in the domain. Deliverability is not ours to
# judge; catching "not an e-mail at all" (a phone number, "n/a", a name) is.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")

Score = Annotated[int, Field(ge=1, le=3, description="1 low, 2 medium, 3 high")]
# The format keyword makes strict-mode models (and the sandbox model) produce an address.
Email = Annotated[str, Field(max_length=320, json_schema_extra={"format": "email"})]

INSTRUCTIONS = """\
You extract sales-lead data from a conversation between a customer and a business's chat \
assistant (and sometimes a human operator of the business). Use only what was said; never \
guess. Return every field:
- name, email, company: as the customer gave them, or null.
- intent: what the customer wants, in one sentence, or null if it is not clear yet.
- urgency, budget, fit, engagement: 1 (low), 2 (medium) or 3 (high); 1 when unknown.
- demo_at: the date and time of a demo or meeting the customer agreed to, as an ISO 8601 \
datetime with its UTC offset (resolve "tomorrow at 3" against the message timestamps and the \
customer's time zone), or null.
- demo_timezone: the customer's time zone as an IANA name (e.g. America/Mexico_City) when \
you can tell, else null.
- notification: one or two sentences telling the business what happened and what to do next.
If a previous extraction is given, it summarises earlier messages: keep what is still true \
and update it with the new messages."""


class LeadExtraction(BaseModel):
    """What the model must return. The JSON schema of this class is the strict output format."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=200)] | None
    email: Email | None
    company: Annotated[str, Field(max_length=200)] | None
    intent: Annotated[str, Field(max_length=1000)] | None
    urgency: Score
    budget: Score
    fit: Score
    engagement: Score
    demo_at: AwareDatetime | None
    demo_timezone: Annotated[str, Field(max_length=64)] | None
    notification: Annotated[str, Field(max_length=1000)]

    @field_validator("name", "email", "company", "intent", "demo_timezone", mode="before")
    @classmethod
    def _blank_is_null(cls, v: Any) -> Any:
        # Models often answer "" or "unknown" for "not given"; both mean null here.
        if isinstance(v, str) and v.strip().lower() in ("", "null", "none", "unknown", "n/a"):
            return None
        return v.strip() if isinstance(v, str) else v

    @field_validator("notification", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else v

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not _EMAIL.match(v):
            raise ValueError("not an e-mail address")
        local, _, domain = v.rpartition("@")
        return f"{local}@{domain.lower()}"

    @field_validator("demo_timezone")
    @classmethod
    def _timezone(cls, v: str | None) -> str | None:
        # An "Area/Location" name must be a real IANA zone (a misspelt one would mislead
        # whoever schedules the demo); anything else ("CET", "UTC-5", "hora del centro") is
        # kept as the customer's own words.
        if v is not None and "/" in v:
            try:
                zoneinfo.ZoneInfo(v)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {v!r}") from exc
        return v


class ExtractionFailed(Exception):
    """The call did not produce a usable extraction. `invalid` means the model answered but
    the answer broke the schema or the rules (as opposed to an API or network failure)."""

    def __init__(self, reason: str, detail: str = "", *, invalid: bool = False) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.invalid = invalid


@dataclass
class TranscriptLine:
    seq: int
    at: datetime
    role: str
    text: str


ROLE_LABELS = {"customer": "Customer", "ai": "Assistant", "operator": "Operator"}


def build_input(
    lines: list[TranscriptLine], from_seq: int, previous: dict[str, Any] | None, now: datetime
) -> list[dict[str, str]]:
    """The request input: the previous extraction (if any) and a timestamped transcript.

    Timestamps let the model turn "tomorrow at 3" into a datetime; the marker shows which
    messages are new since the previous extraction.
    """
    items: list[dict[str, str]] = []
    if previous is not None:
        items.append({"role": "developer", "content": "Previous extraction:\n"
                      + json.dumps(previous, ensure_ascii=False, default=str)})
    out = [f"Current time: {now.isoformat(timespec='minutes')}", "Conversation, oldest first:"]
    marked = False
    for line in lines:
        if line.seq >= from_seq and not marked and previous is not None:
            out.append("--- new since the previous extraction ---")
            marked = True
        label = ROLE_LABELS.get(line.role, line.role)
        out.append(f"[{line.at.isoformat(timespec='minutes')}] {label}: {line.text}")
    items.append({"role": "user", "content": "\n".join(out)})
    return items


async def extract(
    rt: Runtime, model: str, items: list[dict[str, str]], *, metadata: dict[str, str]
) -> LeadExtraction:
    """One strict-schema call. Raises ExtractionFailed; never returns a partial result."""
    try:
        async with guarded(rt, "lead_extraction") as b:
            try:
                response = await rt.openai.responses.parse(
                    model=model, instructions=INSTRUCTIONS, input=items,  # type: ignore[arg-type]
                    text_format=LeadExtraction, store=False, max_output_tokens=MAX_OUTPUT_TOKENS,
                    metadata=metadata,
                )
            except pydantic.ValidationError as exc:
                # The API worked; the answer did not fit. Not the dependency's fault: the
                # breaker counts it as a success.
                b.success()
                MODEL_ERRORS.labels("lead_invalid").inc()
                raise ExtractionFailed("invalid_output", _summary(exc), invalid=True) from exc
        accept(b, response)
    except ModelError as exc:
        raise ExtractionFailed(exc.reason, str(exc)) from exc
    parsed = response.output_parsed
    if parsed is None:
        # A refusal, or an incomplete answer with no parsable text.
        MODEL_ERRORS.labels("lead_invalid").inc()
        raise ExtractionFailed("no_output", str(response.status), invalid=True)
    return parsed


def _summary(exc: pydantic.ValidationError) -> str:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": str(exc)}
    loc = ".".join(str(p) for p in first.get("loc", ())) or "output"
    return f"{len(errors)} error(s), first {loc}: {first.get('msg')}"
