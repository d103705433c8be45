#!/usr/bin/env python3
"""Watch a tenant's conversations live over GraphQL (graphql-transport-ws).

    pip install websockets            # already installed in the project's .venv
    MCA_API_KEY=mca_... python documentation/examples/subscribe.py
    MCA_API_KEY=mca_... python documentation/examples/subscribe.py --conversation <ID>

Environment:
    MCA_URL       the API's base URL (default http://127.0.0.1:8000; https:// becomes wss://)
    MCA_API_KEY   a tenant API key (`make run` prints the demo tenant's key)

Every event is printed as one JSON line. The cursor of the last message event is kept; when
the connection drops, the script reconnects and subscribes again with `after: <cursor>`, so
the server replays from Postgres what happened in between before it continues live.
Stop it with Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import uuid
from typing import Any

import websockets

SUBSCRIPTION = """
subscription Watch($conversationId: ID, $after: String) {
  conversationEvents(conversationId: $conversationId, after: $after) {
    __typename
    ... on MessageCreated {
      cursor
      conversationId
      message { id seq direction senderRole type text status statusReason createdAt }
    }
    ... on MessageStatusChanged {
      cursor
      conversationId
      message { id seq direction status statusReason errorCode errorTitle }
    }
    ... on ConversationUpdated { conversationId change mode archived leadId }
    ... on EventsMissed { reason messagesReplayed }
  }
}
"""


def ws_url(base: str) -> str:
    base = base.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):] + "/graphql"
    if base.startswith("http://"):
        return "ws://" + base[len("http://"):] + "/graphql"
    return base + "/graphql"


class Fatal(Exception):
    """A refusal that reconnecting cannot fix (bad key, bad arguments)."""


async def watch(url: str, api_key: str, conversation_id: str | None, state: dict[str, Any]) -> None:
    """One connection: subscribe (resuming after state["after"]), print events, and keep the
    last message event's cursor in state["after"] until the socket closes."""
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"authorization": f"Bearer {api_key}"}}))
        ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise Fatal(f"expected connection_ack, got {ack}")
        state["connected"] = True
        op_id = str(uuid.uuid4())
        after = state["after"]
        await ws.send(json.dumps({
            "id": op_id, "type": "subscribe",
            "payload": {"query": SUBSCRIPTION,
                        "variables": {"conversationId": conversation_id, "after": after}},
        }))
        print(f"# subscribed{' after ' + after[:16] + '...' if after else ''}", file=sys.stderr)
        async for raw in ws:
            msg: dict[str, Any] = json.loads(raw)
            kind = msg.get("type")
            if kind == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif kind == "next":
                payload = msg["payload"]
                if not payload.get("data"):
                    # Refused before the first event: NOT_FOUND, BAD_USER_INPUT (a bad cursor), ...
                    raise Fatal(json.dumps(payload.get("errors"), ensure_ascii=False))
                event = payload["data"]["conversationEvents"]
                state["after"] = event.get("cursor") or state["after"]
                print(json.dumps(event, ensure_ascii=False), flush=True)
            elif kind == "error":
                # The operation was refused as a whole (e.g. TOO_MANY_SUBSCRIPTIONS).
                raise Fatal(json.dumps(msg.get("payload"), ensure_ascii=False))
            elif kind == "complete":
                return


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversation", help="only this conversation (default: all)")
    parser.add_argument("--after", help="replay from this cursor first")
    args = parser.parse_args()
    api_key = os.environ.get("MCA_API_KEY")
    if not api_key:
        sys.exit("set MCA_API_KEY to a tenant API key")
    url = ws_url(os.environ.get("MCA_URL", "http://127.0.0.1:8000"))
    state: dict[str, Any] = {"after": args.after}
    delay = 1.0
    while True:
        try:
            await watch(url, api_key, args.conversation, state)
            delay = 1.0
        except Fatal as exc:
            sys.exit(f"refused: {exc}")
        except websockets.ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code in (4400, 4401, 4403, 4406):
                sys.exit(f"refused: {exc.rcvd.code} {exc.rcvd.reason}")
            print(f"# connection closed ({exc}); reconnecting", file=sys.stderr)
        except OSError as exc:
            print(f"# cannot connect ({exc}); retrying in {delay:.0f}s", file=sys.stderr)
        if state.pop("connected", False):
            delay = 1.0  # the last attempt got through: start the backoff over
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
