"""A template's components as Meta lists them: its parameters, the check of the values an
operator gave, the text it renders to, and the `components` of the send request.

Pure functions over Meta's JSON, so the rules are tested without servers. A parameter is
named by a key: `header.<name>`, `body.<name>` or `button.<index>.<name>`, where `<name>` is
the placeholder's number (`{{1}}`) or, for templates with named parameters, its name
(`{{order_id}}`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.channels.adapters.payload import as_dict, as_list, as_str
from app.errors import BadUserInput, ValidationFailed

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
# Meta's limits on what a template renders to (message-templates guide).
MAX_BODY_CHARS = 1024
MAX_HEADER_CHARS = 60
MAX_VALUE_CHARS = 1024
MAX_BUTTON_VALUE_CHARS = 2000
MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT", "LOCATION")


@dataclass(frozen=True)
class Parameter:
    key: str
    component: str  # header | body | button
    name: str
    example: str | None = None


def _component(components: list[Any], kind: str) -> dict[str, Any]:
    for c in components:
        if (as_str(as_dict(c).get("type")) or "").upper() == kind:
            return as_dict(c)
    return {}


def _names(text: str | None) -> list[str]:
    seen: list[str] = []
    for name in PLACEHOLDER.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def _examples(comp: dict[str, Any], field: str, names: list[str]) -> dict[str, str]:
    """The examples Meta keeps with a template: positional lists or named pairs."""
    example = as_dict(comp.get("example"))
    found: dict[str, str] = {}
    for pair in as_list(example.get(f"{field}_named_params")):
        p = as_dict(pair)
        name, value = as_str(p.get("param_name")), p.get("example")
        if name and value is not None:
            found[name] = str(value)
    values = as_list(example.get(field))
    # The body's examples are a list of lists; the header's a flat list.
    if values and isinstance(values[0], list):
        values = values[0]
    for name, value in zip(names, values, strict=False):
        found.setdefault(name, str(value))
    return found


def _buttons(components: list[Any]) -> list[dict[str, Any]]:
    return [as_dict(b) for b in as_list(_component(components, "BUTTONS").get("buttons"))]


def parameters(components: list[Any]) -> list[Parameter]:
    """Every value the template needs, in the order its text shows them."""
    out: list[Parameter] = []
    header = _component(components, "HEADER")
    if (as_str(header.get("format")) or "TEXT").upper() == "TEXT":
        names = _names(as_str(header.get("text")))
        ex = _examples(header, "header_text", names)
        out += [Parameter(f"header.{n}", "header", n, ex.get(n)) for n in names]
    body = _component(components, "BODY")
    names = _names(as_str(body.get("text")))
    ex = _examples(body, "body_text", names)
    out += [Parameter(f"body.{n}", "body", n, ex.get(n)) for n in names]
    for index, button in enumerate(_buttons(components)):
        if (as_str(button.get("type")) or "").upper() != "URL":
            continue
        examples = as_list(button.get("example"))
        for n in _names(as_str(button.get("url"))):
            out.append(Parameter(f"button.{index}.{n}", "button", n,
                                 str(examples[0]) if examples else None))
    return out


def unsupported(components: list[Any]) -> str | None:
    """Why the platform cannot send this template, or None."""
    fmt = (as_str(_component(components, "HEADER").get("format")) or "TEXT").upper()
    if fmt in MEDIA_FORMATS:
        return f"templates with a {fmt.lower()} header are not supported"
    for button in _buttons(components):
        kind = (as_str(button.get("type")) or "").upper()
        if kind in ("FLOW", "COPY_CODE", "CATALOG", "MPM", "OTP"):
            return f"templates with a {kind.lower()} button are not supported"
    return None


def check_values(components: list[Any], given: dict[str, str]) -> dict[str, str]:
    """The values for every parameter, checked as Meta would before it is asked: each one
    given, none unknown, none empty, body and header values on one line, and the rendered
    text within Meta's lengths."""
    reason = unsupported(components)
    if reason is not None:
        raise ValidationFailed(reason)
    wanted = parameters(components)
    keys = {p.key for p in wanted}
    unknown = sorted(set(given) - keys)
    if unknown:
        expected = ", ".join(p.key for p in wanted) or "none"
        raise BadUserInput(f"unknown template parameter {unknown[0]!r} (expected: {expected})")
    missing = [p.key for p in wanted if p.key not in given]
    if missing:
        raise BadUserInput(f"template parameter {missing[0]!r} is missing")
    values: dict[str, str] = {}
    for p in wanted:
        value = given[p.key].strip()
        if not value:
            raise BadUserInput(f"template parameter {p.key!r} must not be empty")
        limit = MAX_BUTTON_VALUE_CHARS if p.component == "button" else MAX_VALUE_CHARS
        if len(value) > limit:
            raise BadUserInput(f"template parameter {p.key!r} must be at most {limit} characters")
        if p.component != "button" and (re.search(r"[\n\t]", value) or "     " in value):
            raise BadUserInput(
                f"template parameter {p.key!r} must be one line, without tabs or more than four "
                "spaces in a row (Meta refuses them)"
            )
        values[p.key] = value
    header = render_part(as_str(_component(components, "HEADER").get("text")), "header", values)
    if header and len(header) > MAX_HEADER_CHARS:
        raise BadUserInput(f"the template's header would be longer than {MAX_HEADER_CHARS} characters")
    body = render_part(as_str(_component(components, "BODY").get("text")), "body", values)
    if body and len(body) > MAX_BODY_CHARS:
        raise BadUserInput(f"the template's text would be longer than {MAX_BODY_CHARS} characters")
    return values


def render_part(text: str | None, prefix: str, values: dict[str, str]) -> str | None:
    if text is None:
        return None
    return PLACEHOLDER.sub(lambda m: values.get(f"{prefix}.{m.group(1)}", m.group(0)), text)


def render(components: list[Any], values: dict[str, str]) -> str:
    """The text the customer reads: header, body and footer, one paragraph each."""
    parts = [
        render_part(as_str(_component(components, "HEADER").get("text")), "header", values),
        render_part(as_str(_component(components, "BODY").get("text")), "body", values),
        as_str(_component(components, "FOOTER").get("text")),
    ]
    return "\n\n".join(p for p in parts if p)


def _text_parameters(
    names: list[str], prefix: str, values: dict[str, str], named: bool
) -> list[dict[str, str]]:
    out = []
    for n in names:
        p = {"type": "text", "text": values[f"{prefix}.{n}"]}
        if named:
            p["parameter_name"] = n
        out.append(p)
    return out


def send_components(
    components: list[Any], values: dict[str, str], parameter_format: str
) -> list[dict[str, Any]]:
    """The `template.components` of the send request (external-apis.md A8)."""
    named = parameter_format.upper() == "NAMED"
    out: list[dict[str, Any]] = []
    header = _component(components, "HEADER")
    names = _names(as_str(header.get("text")))
    if names:
        out.append({"type": "header",
                     "parameters": _text_parameters(names, "header", values, named)})
    names = _names(as_str(_component(components, "BODY").get("text")))
    if names:
        out.append({"type": "body", "parameters": _text_parameters(names, "body", values, named)})
    for index, button in enumerate(_buttons(components)):
        names = _names(as_str(button.get("url")))
        if (as_str(button.get("type")) or "").upper() == "URL" and names:
            out.append({"type": "button", "sub_type": "url", "index": str(index),
                        "parameters": _text_parameters(names, f"button.{index}", values, False)})
    return out
