// Print every conversation event of a tenant as JSON lines, and resume after a disconnect
// without losing any: each reconnect resubscribes with `after` set to the last cursor seen.
//
//   npm install graphql-ws ws
//   MCA_API_KEY=mca_... MCA_URL=http://127.0.0.1:8000 node subscribe.mjs [--conversation ID] [--after CURSOR]
//
// Node.js 20 has no global WebSocket, so the `ws` package is passed as webSocketImpl.
// MCA_MAX_EVENTS=N exits after N events (handy in scripts and tests).
import { parseArgs } from "node:util";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const EVENTS = `subscription Events($c: ID, $after: String) {
  conversationEvents(conversationId: $c, after: $after) {
    __typename
    ... on MessageCreated { cursor conversationId message { id seq direction senderRole text status } }
    ... on MessageStatusChanged { cursor conversationId message { id seq status errorCode } }
    ... on ConversationUpdated { conversationId change mode archived }
    ... on EventsMissed { reason messagesReplayed }
  }
}`;

// Closes that another attempt cannot fix: bad request, revoked or invalid key, wrong
// subprotocol, too many connections. graphql-ws would retry 4403 forever.
const FATAL = new Set([4400, 4401, 4403, 4406, 4409, 4429]);

const { values: args } = parseArgs({
  options: { conversation: { type: "string" }, after: { type: "string" } },
});
const apiKey = process.env.MCA_API_KEY;
if (!apiKey) {
  console.error("set MCA_API_KEY to a tenant API key");
  process.exit(2);
}
const base = (process.env.MCA_URL ?? "http://127.0.0.1:8000").replace(/\/+$/, "");
const maxEvents = Number(process.env.MCA_MAX_EVENTS ?? Infinity);

const client = createClient({
  url: base.replace(/^http/, "ws") + "/graphql",
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${apiKey}` },
  retryAttempts: Infinity,
  shouldRetry: (event) => !(event && typeof event.code === "number" && FATAL.has(event.code)),
  on: {
    connected: () => console.error("# connected"),
    closed: (event) => console.error(`# closed (${event?.code ?? "?"}); reconnecting`),
  },
});

// graphql-ws resends this same payload object on every reconnect: keeping `after` up to date
// in it is what makes the server replay what was missed.
const payload = {
  query: EVENTS,
  variables: { c: args.conversation ?? null, after: args.after ?? null },
};
let seen = 0;
try {
  for await (const result of client.iterate(payload)) {
    if (result.errors) {
      console.error(JSON.stringify(result.errors));
      continue;
    }
    const event = result.data.conversationEvents;
    if (event.cursor) payload.variables.after = event.cursor;
    console.log(JSON.stringify(event));
    if (++seen >= maxEvents) break;
  }
} catch (error) {
  const reason = error?.code ? `${error.code} ${error.reason}` : String(error?.message ?? error);
  console.error(`refused: ${reason}`);
  process.exitCode = 1;
} finally {
  await client.dispose();
}
