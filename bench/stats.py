"""Percentiles and the e2e correctness analysis, in plain Python (no numpy needed in tests)."""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


def pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 2)


_TEXT = re.compile(r"^([a-z]+)(\d+)-(\d+)$")


def parse_text(text: str) -> tuple[str, int] | None:
    """ "e17-4" -> ("e17", 4): the load generator's conversation and the message's index in it."""
    m = _TEXT.match(text)
    return (m.group(1) + m.group(2), int(m.group(3))) if m else None


@dataclass
class E2EAnalysis:
    accepted: int = 0
    answered: int = 0
    lost: int = 0
    duplicates: int = 0
    fifo_violations: int = 0
    unknown_replies: int = 0
    context_rebuilds: int = 0
    # per answered message: posted wall time, reply wall time, e2e s, overhead s
    samples: list[tuple[float, float, float, float]] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def analyse_e2e(
    sent: Iterable[Sequence[Any]],
    inbound: Sequence[Any],
    replies: Sequence[Any],
    graph_requests: Sequence[dict[str, Any]],
    model_requests: Sequence[dict[str, Any]],
    model_latency_s: float,
) -> E2EAnalysis:
    """What the fake model's replies reveal: which inbound messages each answered, in order.

    sent: (text, posted wall time, HTTP status) from the load generator.
    inbound: rows (conversation_id, seq, text, status) of inbound messages.
    replies: rows (conversation_id, seq, text, status, id) of outbound AI replies.
    """
    a = E2EAnalysis()
    posted: dict[str, float] = {}
    for text, at, status in sent:
        if status == 200:
            posted[str(text)] = float(at)
    a.accepted = len(posted)

    # When each reply reached "Meta": the fake Graph server's receipt time of its first 200.
    reached: dict[str, float] = {}
    opaque_counts: dict[str, int] = defaultdict(int)
    for r in graph_requests:
        body = r.get("json") or {}
        ours = body.get("biz_opaque_callback_data") if isinstance(body, dict) else None
        if ours and r.get("status") == 200:
            opaque_counts[ours] += 1
            reached.setdefault(ours, float(r["ts"]))
    resent = sum(n - 1 for n in opaque_counts.values() if n > 1)
    if resent:
        a.details.append(f"{resent} replies were sent to the Graph API more than once")

    # Model calls per conversation (the fake's user texts name the conversation).
    model_spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in model_requests:
        for t in r.get("user_texts") or []:
            p = parse_text(t)
            if p is not None:
                model_spans[p[0]].append((float(r["ts"]), float(r["ts"]) + model_latency_s))
                break

    # Requests that carried history (no previous_response_id): echoed text -> the new texts.
    rebuilt: dict[str, list[str]] = {}
    for r in model_requests:
        body = r.get("body") or {}
        items = body.get("input") if isinstance(body, dict) else None
        if not isinstance(items, list) or not any(
            isinstance(i, dict) and i.get("role") == "assistant" for i in items
        ):
            continue
        last = max(k for k, i in enumerate(items) if isinstance(i, dict) and i.get("role") == "assistant")
        fresh = [
            str(i.get("content"))
            for i in items[last + 1 :]
            if isinstance(i, dict) and i.get("role") == "user" and isinstance(i.get("content"), str)
        ]
        rebuilt[" | ".join(r.get("user_texts") or [])] = fresh
    covered: dict[str, int] = defaultdict(int)
    order: dict[str, list[int]] = defaultdict(list)
    reply_at: dict[str, float] = {}
    for _conversation_id, _seq, text, status, rid in sorted(replies, key=lambda r: (str(r[0]), r[1])):
        if status not in ("sent", "unknown", "delivered", "read"):
            continue
        if status == "unknown":
            a.unknown_replies += 1
        echoed = str(text or "").removeprefix("[sandbox] ")
        texts = echoed.split(" | ")
        only_new = rebuilt.get(echoed)
        if only_new is not None:
            # A context rebuilt from history: the fake echoes the history's user texts too;
            # only those after the last assistant turn are this batch's messages.
            a.context_rebuilds += 1
            texts = only_new
        for t in texts:
            covered[t] += 1
            p = parse_text(t)
            if p is not None:
                order[p[0]].append(p[1])
            if str(rid) in reached:
                reply_at.setdefault(t, reached[str(rid)])
    a.duplicates = resent + sum(n - 1 for n in covered.values() if n > 1)
    if a.duplicates - resent:
        a.details.append(f"{a.duplicates - resent} inbound messages answered by more than one reply")

    # Order: within a conversation, replies (in seq order) must cover messages in posting order.
    for conv, idxs in order.items():
        seen: set[int] = set()
        last = -1
        for i in idxs:
            if i in seen:
                continue
            seen.add(i)
            if i < last:
                a.fifo_violations += 1
                if len(a.details) < 20:
                    a.details.append(f"conversation {conv}: message {i} answered after {last}")
            last = max(last, i)
    # The database must also hold every conversation's messages in posting order (compared
    # within one load generator run: its prefix is part of the parsed key).
    by_conv: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    stored = set()
    for _cid, seq, text, _status in inbound:
        stored.add(str(text))
        p = parse_text(str(text))
        if p is not None:
            by_conv[(str(_cid), p[0])].append((int(seq), p[1]))
    for (cid, _), rows in by_conv.items():
        idxs = [i for _, i in sorted(rows)]
        wrong = sum(1 for x, y in itertools.pairwise(idxs) if y < x)
        a.fifo_violations += wrong
        if wrong and len(a.details) < 20:
            a.details.append(f"conversation {cid}: stored out of posting order (seq, index): "
                             f"{sorted(rows)}")

    for text, at in posted.items():
        if text not in stored or covered.get(text, 0) == 0:
            a.lost += 1
            if len(a.details) < 40:
                a.details.append(
                    f"{text}: accepted but {'never stored' if text not in stored else 'never answered'}"
                )
            continue
        a.answered += 1
        done = reply_at.get(text)
        if done is None:
            continue  # answered with an `unknown` reply that never reached the fake
        e2e = done - at
        p = parse_text(text)
        model = 0.0
        if p is not None:
            for s, e in model_spans.get(p[0], ()):
                model += max(0.0, min(e, done) - max(s, at))
        a.samples.append((at, done, e2e, max(0.0, e2e - model)))
    return a
