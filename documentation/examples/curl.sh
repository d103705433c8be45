#!/usr/bin/env bash
# The platform's HTTP surface with curl: health, GraphQL, the Meta webhook and the web chat
# widget's public endpoints. Needs curl, openssl (to sign webhooks) and jq.
#
#   MCA_API_KEY=mca_... ./documentation/examples/curl.sh            # against `make run`
#
# Environment (defaults match `make run` in development):
#   MCA_URL            API base URL                     (http://127.0.0.1:8000)
#   MCA_API_KEY        a tenant API key                 (`make run` prints the demo key)
#   META_APP_SECRET    signs the simulated webhooks     (dev-app-secret)
#   META_VERIFY_TOKEN  the webhook handshake token      (dev-verify-token)
#   WA_PHONE_NUMBER_ID the WhatsApp channel to connect  (a made-up id; see below)
#   FAKE_GRAPH_URL     the fake Graph API, if you run one (unset)
#
# The script connects a WhatsApp channel with a dummy token. Connecting asks the Graph API
# whether the token owns the number, so run the fake Graph API and point the platform at it:
#   .venv/bin/python -m app.sandbox graph --port 8099
#   META_GRAPH_API_BASE_URL=http://127.0.0.1:8099/v25.0 make run
#   FAKE_GRAPH_URL=http://127.0.0.1:8099 MCA_API_KEY=mca_... ./documentation/examples/curl.sh
# The script then tells the fake that the dummy token owns the number. Against the real
# graph.facebook.com the dummy token is refused (CHANNEL_VERIFICATION_FAILED: invalid token),
# which is also worth seeing once.
set -euo pipefail

URL=${MCA_URL:-http://127.0.0.1:8000}
KEY=${MCA_API_KEY:?set MCA_API_KEY to a tenant API key (make run prints one)}
SECRET=${META_APP_SECRET:-dev-app-secret}
VERIFY=${META_VERIFY_TOKEN:-dev-verify-token}
PHONE_NUMBER_ID=${WA_PHONE_NUMBER_ID:-1000$(date +%s)}
CUSTOMER=5215512345678

step() { printf '\n== %s\n' "$*"; }

# gql QUERY [VARIABLES_JSON]: one GraphQL operation over HTTP.
gql() {
  jq -n --arg q "$1" --argjson v "${2:-{\}}" '{query: $q, variables: $v}' |
    curl -sS "$URL/graphql" -H "Authorization: Bearer $KEY" \
      -H 'Content-Type: application/json' --data-binary @-
}

# webhook FILE: POST a body to /webhooks/meta, signed over its exact bytes.
webhook() {
  local sig
  sig=$(openssl dgst -sha256 -hmac "$SECRET" -r <"$1" | cut -d' ' -f1)
  curl -sS "$URL/webhooks/meta" -H 'Content-Type: application/json' \
    -H "X-Hub-Signature-256: sha256=$sig" --data-binary @"$1"
  echo
}

step "health"
curl -sS "$URL/healthz"; echo
curl -sS "$URL/readyz"; echo

step "who am I"
gql 'query Viewer { viewer { id name creditBalance } }' | jq .

if [ -n "${FAKE_GRAPH_URL:-}" ]; then
  step "the fake Graph API learns that the dummy token owns the number"
  curl -sS "$FAKE_GRAPH_URL/_fake/accounts" -H 'Content-Type: application/json' \
    -d "$(jq -n --arg id "$PHONE_NUMBER_ID" '{kind: "whatsapp", account_id: $id,
          token: "EAAG-dummy-token", name: "Sales line"}')" >/dev/null
fi

step "connect a WhatsApp number (Meta must confirm the token owns it; stored encrypted, never returned)"
OUT=$(gql 'mutation CreateChannel($input: CreateChannelInput!) {
    createChannel(input: $input) { id kind providerAccountId status }
  }' "$(jq -n --arg id "$PHONE_NUMBER_ID" \
        '{input: {kind: "WHATSAPP", providerAccountId: $id, accessToken: "EAAG-dummy-token",
                  displayName: "Sales line"}}')")
echo "$OUT" | jq .
CHANNEL_ID=$(echo "$OUT" | jq -r '.data.createChannel.id')
if [ "$CHANNEL_ID" = "null" ]; then
  echo "not connected (see the error above); set FAKE_GRAPH_URL to use the fake Graph API" >&2
  exit 1
fi

step "give it an agent"
gql 'mutation CreateAgent($input: CreateAgentInput!) { createAgent(input: $input) { id name model creditsPerReply } }' \
  "$(jq -n --arg ch "$CHANNEL_ID" '{input: {channelId: $ch, name: "Sales", model: "gpt-4.1-mini",
      instructions: "You are a helpful sales assistant. Answer briefly.", creditsPerReply: 1}}')" | jq .

step "Meta's verification handshake (answers the challenge as text/plain)"
curl -sS -G "$URL/webhooks/meta" --data-urlencode "hub.mode=subscribe" \
  --data-urlencode "hub.verify_token=$VERIFY" --data-urlencode "hub.challenge=1158201444"; echo

step "a customer writes (a signed WhatsApp webhook; non-ASCII escaped as Meta sends it)"
BODY=$(mktemp)
trap 'rm -f "$BODY"' EXIT
WAMID="wamid.CURL$(date +%s%N)"
jq -cn --arg pnid "$PHONE_NUMBER_ID" --arg from "$CUSTOMER" --arg id "$WAMID" \
  --arg ts "$(date +%s)" '{object: "whatsapp_business_account", entry: [{id: "WABA_ID",
    changes: [{field: "messages", value: {messaging_product: "whatsapp",
      metadata: {display_phone_number: "15550001111", phone_number_id: $pnid},
      contacts: [{profile: {name: "Ana"}, wa_id: $from}],
      messages: [{from: $from, id: $id, timestamp: $ts, type: "text",
                  text: {body: "Hola, ¿cuánto cuesta el plan básico?"}}]}}]}]}' |
  python3 -c 'import json,sys; sys.stdout.write(json.dumps(json.load(sys.stdin), ensure_ascii=True, separators=(",", ":")))' >"$BODY"
webhook "$BODY"

step "the same delivery again: recognised as a duplicate, answered once"
webhook "$BODY"

step "a wrong signature is refused with 401 and nothing is stored"
curl -sS -o /dev/null -w '%{http_code}\n' "$URL/webhooks/meta" \
  -H 'X-Hub-Signature-256: sha256=0000' --data-binary @"$BODY"

sleep 3
step "the conversation, newest activity first, with its last messages"
CONVERSATION_ID=$(gql 'query Conversations($ch: ID) {
    conversations(first: 1, filter: {channelId: $ch}) { edges { node { id } } } }' \
  "$(jq -n --arg ch "$CHANNEL_ID" '{ch: $ch}')" | jq -r '.data.conversations.edges[0].node.id')
gql 'query Conversation($id: ID!) { conversation(id: $id) {
    id mode lastInboundAt replyWindowClosesAt
    contact { externalId profileName waId }
    messages(last: 10) { edges { node { seq direction senderRole text status statusReason
                                         errorCode providerMessageId } } }
  } }' "$(jq -n --arg id "$CONVERSATION_ID" '{id: $id}')" | jq .

step "Meta reports the reply delivered (a status webhook only ever moves it forward)"
REPLY_WAMID=$(gql 'query LastMessage($id: ID!) { conversation(id: $id) { lastMessage { providerMessageId } } }' \
  "$(jq -n --arg id "$CONVERSATION_ID" '{id: $id}')" | jq -r '.data.conversation.lastMessage.providerMessageId')
if [ "$REPLY_WAMID" != "null" ]; then
  jq -cn --arg pnid "$PHONE_NUMBER_ID" --arg id "$REPLY_WAMID" --arg to "$CUSTOMER" \
    --arg ts "$(date +%s)" '{object: "whatsapp_business_account", entry: [{id: "WABA_ID",
      changes: [{field: "messages", value: {messaging_product: "whatsapp",
        metadata: {display_phone_number: "15550001111", phone_number_id: $pnid},
        statuses: [{id: $id, status: "delivered", timestamp: $ts, recipient_id: $to}]}}]}]}' >"$BODY"
  webhook "$BODY"
fi

step "an operator takes over and answers (the conversation switches to HUMAN)"
gql 'mutation SendOperatorMessage($id: ID!, $text: String!) {
    sendOperatorMessage(conversationId: $id, text: $text) { id seq status senderRole } }' \
  "$(jq -n --arg id "$CONVERSATION_ID" '{id: $id, text: "Hola Ana, soy Marta del equipo de ventas."}')" | jq .

step "... and hands back to the AI (the model is told on its next turn)"
gql 'mutation SetConversationMode($id: ID!) { setConversationMode(id: $id, mode: AI) { id mode } }' \
  "$(jq -n --arg id "$CONVERSATION_ID" '{id: $id}')" | jq .

step "credits: every movement, newest first"
gql 'query Credits { viewer { creditBalance } creditLedger(first: 5) {
    edges { node { delta kind reason balanceAfter createdAt } } } }' | jq .

step "web chat: the demo channel's public endpoints (no API key; a visitor token)"
PUBLIC_ID=$(gql 'query Channels { channels { kind providerAccountId } }' |
  jq -r '[.data.channels[] | select(.kind == "WEBCHAT")][0].providerAccountId')
if [ "$PUBLIC_ID" != "null" ]; then
  OUT=$(curl -sS -X POST "$URL/widget/$PUBLIC_ID/session")
  echo "$OUT" | jq .
  TOKEN=$(echo "$OUT" | jq -r .token)
  curl -sS -X POST "$URL/widget/$PUBLIC_ID/messages" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' \
    -d '{"text": "Do you ship to Canada?", "clientMessageId": "curl-example-0001"}' | jq .
  sleep 2
  curl -sS "$URL/widget/$PUBLIC_ID/messages?limit=10" -H "Authorization: Bearer $TOKEN" | jq .
  # Live replies: curl -N "$URL/widget/$PUBLIC_ID/stream" -H "Authorization: Bearer $TOKEN"
fi
