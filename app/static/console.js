/*
 * Operator console: the reference dashboard client. It uses only the public GraphQL API:
 * queries and mutations over HTTP POST /graphql, live events over `graphql-transport-ws`.
 *
 * - The API key lives in sessionStorage (this tab only) and travels in a header or in the
 *   websocket's connection_init payload, never in a URL.
 * - Every piece of text from the API reaches the DOM through textContent, never as markup.
 */
(function () {
  "use strict";

  var KEY_STORE = "mca-console-key";
  var $ = function (id) { return document.getElementById(id); };
  var MESSAGE_FIELDS = "id conversationId seq direction senderRole type text status statusReason errorCode errorTitle retryable createdAt operator { id name }" +
    " reaction attachments { id kind mimeType fileName size caption transcript error url }";
  var CONV_FIELDS = "id mode archived lastActivityAt replyWindowClosesAt handoffRequestedAt handoffReason " +
    "status snoozedUntil unreadCount assignee { id name } " +
    "channel { id kind displayName } " +
    "contact { id externalId profileName waId } lastMessage { " + MESSAGE_FIELDS + " } " +
    "labels { id name color }";
  var NOTE_FIELDS = "id text authorName createdAt";
  var KIND_LABEL = { WHATSAPP: "WhatsApp", INSTAGRAM: "Instagram", WEBCHAT: "Web chat" };
  var ROLE_LABEL = { CUSTOMER: "Customer", AI: "AI", OPERATOR: "Operator", SYSTEM: "System" };

  var STATUS_LABEL = { OPEN: "Open", PENDING: "Pending", SNOOZED: "Snoozed", RESOLVED: "Resolved" };

  function fresh() {
    // status and scope: the inbox's tabs. me: the signed-in operator (null for a machine key).
    return { key: null, convs: new Map(), order: [], openId: null, messages: new Map(), live: null, cursor: null,
      status: "OPEN", scope: "ALL", me: null, operators: new Map(), open: null };
  }
  var state = fresh();
  var labels = []; // the tenant's labels, by name

  // --- DOM helpers (textContent only) -------------------------------------------------------

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function show(node, on) { node.hidden = !on; }

  function say(node, text) { node.textContent = text || ""; show(node, !!text); }

  function when(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    var today = new Date().toDateString() === d.toDateString();
    return today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleString();
  }

  function contactName(c) {
    var ct = c.contact || {};
    if (ct.profileName || ct.waId) return ct.profileName || "+" + ct.waId;
    // Web visitors are anonymous: a short stable tag tells them apart.
    if (c.channel && c.channel.kind === "WEBCHAT" && ct.externalId) return "Web visitor " + ct.externalId.slice(2, 8);
    return ct.externalId || "Unknown";
  }

  // --- GraphQL over HTTP ----------------------------------------------------------------------

  function AuthError(message) { this.message = message; }

  async function gql(query, variables) {
    var resp = await fetch("/graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + state.key },
      body: JSON.stringify({ query: query, variables: variables || {} }),
    });
    var body;
    try { body = await resp.json(); } catch (e) { throw new Error("HTTP " + resp.status); }
    if (body.errors && body.errors.length) {
      var err = body.errors[0];
      var code = err.extensions && err.extensions.code;
      if (code === "UNAUTHENTICATED") throw new AuthError(err.message);
      throw new Error(err.message || "request failed");
    }
    if (!resp.ok) throw new Error((body && body.error) || "HTTP " + resp.status);
    return body.data;
  }

  // --- live events: a minimal graphql-transport-ws client -----------------------------------

  function Live(onEvent, onState) {
    var ws = null, retry = 1000, stopped = false, nextId = 1;
    var subs = {}; // id -> {query, variables(fn), onData}

    function send(msg) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(msg)); }

    function subscribe(id) {
      var s = subs[id];
      send({ id: id, type: "subscribe", payload: { query: s.query, variables: s.variables() } });
    }

    function connect() {
      var proto = location.protocol === "https:" ? "wss://" : "ws://";
      ws = new WebSocket(proto + location.host + "/graphql", "graphql-transport-ws");
      onState("connecting");
      ws.onopen = function () {
        send({ type: "connection_init", payload: { authorization: "Bearer " + state.key } });
      };
      ws.onmessage = function (ev) {
        var msg = JSON.parse(ev.data);
        if (msg.type === "connection_ack") {
          retry = 1000;
          onState("live");
          Object.keys(subs).forEach(subscribe);
        } else if (msg.type === "next" && subs[msg.id]) {
          if (msg.payload.data) subs[msg.id].onData(msg.payload.data);
        } else if (msg.type === "error") {
          console.warn("subscription error", msg.payload);
        } else if (msg.type === "ping") {
          send({ type: "pong" });
        }
      };
      ws.onclose = function (ev) {
        if (stopped) return;
        // 4403: the key was refused; 4401: it was revoked while connected. Retrying cannot help.
        if (ev.code === 4403 || ev.code === 4401) { signOut("The API key was refused: " + (ev.reason || "forbidden")); return; }
        onState("reconnecting");
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 15000);
      };
    }

    connect();
    return {
      add: function (query, variables, onData) {
        var id = String(nextId++);
        subs[id] = { query: query, variables: variables, onData: onData };
        subscribe(id);
      },
      stop: function () { stopped = true; if (ws) ws.close(1000); },
    };
  }

  var EVENTS = "subscription Events($after: String) { conversationEvents(after: $after) { __typename " +
    "... on MessageCreated { cursor conversationId message { " + MESSAGE_FIELDS + " } } " +
    "... on MessageStatusChanged { cursor conversationId message { " + MESSAGE_FIELDS + " } } " +
    "... on ConversationUpdated { conversationId change mode archived } " +
    "... on NoteAdded { conversationId note { " + NOTE_FIELDS + " } } " +
    "... on NoteDeleted { conversationId noteId } " +
    "... on ConversationUpdated { conversationId change mode archived status snoozedUntil assigneeId } " +
    "... on ConversationCreated { conversationId } " +
    "... on Typing { conversationId actor active operatorId operatorName expiresInSeconds } " +
    "... on EventsMissed { reason messagesReplayed } } }";

  function onEvent(data) {
    var ev = data.conversationEvents;
    if (ev.cursor) state.cursor = ev.cursor;
    if (ev.__typename === "MessageCreated" || ev.__typename === "MessageStatusChanged") {
      var conv = state.convs.get(ev.conversationId);
      if (ev.conversationId === state.openId) upsertMessage(ev.message);
      if (!conv) { refreshList(); return; }
      if (ev.__typename === "MessageCreated" && ev.message.senderRole === "CUSTOMER" && state.me) {
        if (ev.conversationId === state.openId) markRead(ev.conversationId);
        else conv.unreadCount = (conv.unreadCount || 0) + 1;
      }
      if (ev.__typename === "MessageCreated" || (conv.lastMessage && conv.lastMessage.id === ev.message.id)) {
        conv.lastMessage = ev.message;
        if (ev.__typename === "MessageCreated") conv.lastActivityAt = ev.message.createdAt;
        if (ev.__typename === "MessageCreated" && ev.message.senderRole === "OPERATOR") conv.handoffRequestedAt = null;
        renderList();
      }
    } else if (ev.__typename === "ConversationUpdated" && (ev.change === "STATUS" || ev.change === "ASSIGNEE")) {
      // Another operator (or the customer) moved it: it may belong to another tab now.
      // The open conversation may have left the list's tab: its head still shows it.
      var moved = state.convs.get(ev.conversationId) || (ev.conversationId === state.openId ? state.open : null);
      if (moved) {
        moved.status = ev.status;
        moved.snoozedUntil = ev.snoozedUntil;
        if (ev.change === "ASSIGNEE") moved.assignee = ev.assigneeId ? { id: ev.assigneeId, name: operatorName(ev.assigneeId) } : null;
        if (ev.conversationId === state.openId) renderHead(moved);
      }
      refreshList();
    } else if (ev.__typename === "ConversationCreated") {
      refreshList();
    } else if (ev.__typename === "Typing") {
      showTyping(ev);
    } else if (ev.__typename === "ConversationUpdated") {
      var c = state.convs.get(ev.conversationId);
      if (!c || ev.archived) { refreshList(); return; }
      if (ev.mode) c.mode = ev.mode;
      // The agent asked for a person; a hand-back or an operator's answer ends the wait.
      if (ev.change === "HANDOFF_REQUESTED") c.handoffRequestedAt = new Date().toISOString();
      if (ev.change === "MODE" && ev.mode === "AI") c.handoffRequestedAt = null;
      if (ev.change === "LABELS") { refreshLabelsOf(ev.conversationId); return; }
      renderList();
      if (ev.conversationId === state.openId) renderHead(c);
    } else if (ev.__typename === "NoteAdded" || ev.__typename === "NoteDeleted") {
      if (ev.conversationId === state.openId) onNoteEvent(ev);
    } else if (ev.__typename === "EventsMissed") {
      refreshList();
      if (!ev.messagesReplayed && state.openId) openConversation(state.openId);
    }
  }

  // --- conversation list --------------------------------------------------------------------

  var refreshTimer = null;
  function refreshList() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(loadList, 200); // a burst of new conversations: one query
  }

  function operatorName(id) {
    var op = state.operators.get(id);
    return op ? op.name : "an operator";
  }

  // The typing line of the open conversation: the AI at work, or another operator typing.
  var typingTimer = null;
  function showTyping(ev) {
    if (ev.conversationId !== state.openId) return;
    if (ev.actor === "OPERATOR" && state.me && ev.operatorId === state.me.id) return;
    clearTimeout(typingTimer);
    var note = $("typing");
    if (!ev.active) { say(note, ""); return; }
    say(note, ev.actor === "AGENT" ? "AI is working on a reply\u2026" : (ev.operatorName || "An operator") + " is typing\u2026");
    if (ev.expiresInSeconds) typingTimer = setTimeout(function () { say(note, ""); }, ev.expiresInSeconds * 1000);
  }

  function listFilter() {
    var filter = { archived: false };
    if ($("channel-filter").value) filter.channelId = $("channel-filter").value;
    if ($("search").value.trim()) filter.search = $("search").value.trim();
    if ($("label-filter").value) filter.label = $("label-filter").value;
    return filter;
  }

  // The tabs' counts, in one request: per status for the status tabs, and mine / unassigned /
  // all within the chosen status.
  async function loadCounts() {
    var all = listFilter();
    var tab = Object.assign({}, all, { status: [state.status] });
    var data = await gql("query Counts($all: ConversationFilter, $tab: ConversationFilter) { " +
      "statuses: conversationCounts(filter: $all) { byStatus { status count } } " +
      "scope: conversationCounts(filter: $tab) { total mine unassigned } }", { all: all, tab: tab });
    var byStatus = {};
    data.statuses.byStatus.forEach(function (s) { byStatus[s.status] = s.count; });
    Object.keys(STATUS_LABEL).forEach(function (s) { countOf(s).textContent = String(byStatus[s] || 0); });
    countOf("MINE").textContent = data.scope.mine == null ? "-" : String(data.scope.mine);
    countOf("UNASSIGNED").textContent = String(data.scope.unassigned);
    countOf("ALL").textContent = String(data.scope.total);
  }

  function countOf(name) { return document.querySelector('[data-count="' + name + '"]'); }

  function chooseTab(kind, value) {
    state[kind] = value;
    var attr = kind === "status" ? "data-status" : "data-scope";
    document.querySelectorAll("#" + kind + "-tabs [" + attr + "]").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute(attr) === value);
    });
    loadList();
  }

  // The last 30 days of usage as a bar per day (AI replies), with the period's totals.
  async function loadUsage() {
    var from = new Date(Date.now() - 30 * 86400000);
    var data = await gql("query Usage($from: DateTime!) { usage(from: $from, groupBy: DAY) { " +
      "day inboundMessages aiReplies operatorMessages creditsDebited inputTokens outputTokens } }",
      { from: from.toISOString() });
    var byDay = new Map(data.usage.map(function (u) { return [u.day, u]; }));
    var days = [];
    for (var i = 29; i >= 0; i--) days.push(new Date(Date.now() - i * 86400000).toISOString().slice(0, 10));
    var top = Math.max(1, Math.max.apply(null, data.usage.map(function (u) { return u.aiReplies; })));
    var chart = $("usage-chart");
    chart.replaceChildren();
    var totals = { inboundMessages: 0, aiReplies: 0, operatorMessages: 0, creditsDebited: 0 };
    days.forEach(function (day) {
      var u = byDay.get(day);
      if (u) Object.keys(totals).forEach(function (k) { totals[k] += u[k]; });
      var bar = el("span", "usage-bar");
      bar.style.height = Math.round(100 * (u ? u.aiReplies : 0) / top) + "%";
      bar.title = day + ": " + (u ? u.aiReplies : 0) + " AI replies, " + (u ? u.creditsDebited : 0) + " credits";
      bar.setAttribute("data-day", day);
      chart.appendChild(bar);
    });
    $("usage-totals").textContent = totals.inboundMessages + " customer messages · " + totals.aiReplies +
      " AI replies · " + totals.operatorMessages + " operator messages · " + totals.creditsDebited + " credits";
    show($("usage"), true);
  }

  async function loadList() {
    var filter = listFilter();
    filter.status = [state.status];
    if (state.scope !== "ALL") filter.assignee = state.scope;
    loadCounts().catch(function (e) { handle(e); });
    try {
      var data = await gql("query List($filter: ConversationFilter) { conversations(first: 50, filter: $filter) " +
        "{ edges { node { " + CONV_FIELDS + " } } } }", { filter: filter });
      state.convs = new Map();
      state.order = data.conversations.edges.map(function (e) { state.convs.set(e.node.id, e.node); return e.node.id; });
      if (state.convs.has(state.openId)) state.open = state.convs.get(state.openId);
      renderList();
    } catch (e) { handle(e); }
  }

  function renderList() {
    state.order.sort(function (a, b) {
      return new Date(state.convs.get(b).lastActivityAt) - new Date(state.convs.get(a).lastActivityAt);
    });
    var list = $("conversations");
    list.replaceChildren();
    state.order.forEach(function (id) {
      var c = state.convs.get(id);
      var item = el("li", "conv" + (id === state.openId ? " active" : ""));
      item.setAttribute("data-id", id);
      item.tabIndex = 0;
      var top = el("div", "conv-top");
      top.appendChild(el("span", "conv-name", contactName(c)));
      top.appendChild(el("span", "conv-time", when(c.lastActivityAt)));
      var mid = el("div", "conv-mid");
      mid.appendChild(el("span", "kind kind-" + c.channel.kind.toLowerCase(), KIND_LABEL[c.channel.kind] || c.channel.kind));
      mid.appendChild(el("span", "mode-badge mode-" + c.mode.toLowerCase(), c.mode));
      if (c.handoffRequestedAt && c.mode === "HUMAN") {
        mid.appendChild(el("span", "mode-badge waiting", "Waiting for an operator"));
      }
      if (c.assignee) mid.appendChild(el("span", "conv-assignee", c.assignee.name));
      if (c.unreadCount) {
        var badge = el("span", "unread", String(c.unreadCount));
        badge.title = c.unreadCount + " unread";
        top.insertBefore(badge, top.lastChild);
      }
      var last = c.lastMessage;
      var preview = el("div", "conv-preview", last ? (last.direction === "OUTBOUND" ? ROLE_LABEL[last.senderRole] + ": " : "") + (last.text || "[" + last.type.toLowerCase() + "]") : "");
      (c.labels || []).forEach(function (lb) { mid.appendChild(labelChip(lb)); });
      item.appendChild(top);
      item.appendChild(mid);
      item.appendChild(preview);
      item.addEventListener("click", function () { openConversation(id); });
      item.addEventListener("keydown", function (ev) { if (ev.key === "Enter") openConversation(id); });
      list.appendChild(item);
    });
    show($("no-conversations"), state.order.length === 0);
  }

  // --- one conversation ---------------------------------------------------------------------

  async function openConversation(id) {
    state.openId = id;
    state.messages = new Map();
    renderList();
    show($("placeholder"), false);
    show($("conversation"), true);
    $("messages").replaceChildren();
    say($("thread-error"), "");
    try {
      var data = await gql("query One($id: ID!) { conversation(id: $id) { " + CONV_FIELDS +
        " messages(last: 100) { edges { node { " + MESSAGE_FIELDS + " } } } } }", { id: id });
      if (state.openId !== id) return;
      var conv = data.conversation;
      if (!conv) { say($("thread-error"), "This conversation no longer exists."); return; }
      state.convs.set(id, Object.assign(state.convs.get(id) || {}, conv));
      state.open = state.convs.get(id);
      renderHead(conv);
      say($("typing"), "");
      conv.messages.edges.forEach(function (e) { upsertMessage(e.node); });
      loadNotes(id);
      if (state.me) markRead(id);
    } catch (e) { handle(e); }
  }

  function renderHead(conv) {
    $("contact-name").textContent = contactName(conv);
    $("contact-meta").textContent = (KIND_LABEL[conv.channel.kind] || conv.channel.kind) + " · " + conv.channel.displayName;
    var mode = $("mode");
    mode.textContent = conv.mode === "HUMAN"
      ? (conv.handoffRequestedAt ? "Waiting for an operator" + (conv.handoffReason ? ": " + conv.handoffReason : "")
        : "Operator in charge")
      : "AI in charge";
    mode.className = "mode mode-" + conv.mode.toLowerCase();
    show($("take-over"), conv.mode === "AI");
    show($("hand-back"), conv.mode === "HUMAN");
    renderLabels(conv);
    var mine = !!(state.me && conv.assignee && conv.assignee.id === state.me.id);
    $("assignee").textContent = conv.assignee ? "Assigned to " + (mine ? "you" : conv.assignee.name) : "Unassigned";
    show($("assign-me"), !!state.me && !mine);
    show($("unassign"), !!conv.assignee);
    var status = conv.status || "OPEN";
    var st = $("status");
    st.textContent = STATUS_LABEL[status] + (status === "SNOOZED" && conv.snoozedUntil ? " until " + when(conv.snoozedUntil) : "");
    st.setAttribute("data-status", status);
    show($("resolve"), status !== "RESOLVED");
    show($("snooze"), status !== "SNOOZED" && status !== "RESOLVED");
    show($("reopen"), status !== "OPEN");
    var closes = conv.replyWindowClosesAt;
    say($("window-note"), closes ? "Reply window " + (new Date(closes) > new Date() ? "closes " : "closed ") + when(closes) : "");
    // console-templates.js offers templates when a WhatsApp window is closed.
    document.dispatchEvent(new CustomEvent("console:conversation", { detail: { conv: conv, gql: gql } }));
  }

  // WhatsApp's convention: one tick sent, two delivered, two blue read.
  var TICKS = { PENDING: "sending\u2026", SENT: "\u2713", DELIVERED: "\u2713\u2713", READ: "\u2713\u2713", FAILED: "failed", UNKNOWN: "not confirmed" };

  function statusLine(m) {
    if (m.direction === "OUTBOUND") {
      var line = el("span", "ticks tick-" + m.status.toLowerCase(), TICKS[m.status] || m.status);
      line.title = m.status.toLowerCase() + (m.errorTitle ? ": " + m.errorTitle : "");
      return line;
    }
    var label = m.status === "PROCESSING" ? "AI is answering…" :
      m.status === "SKIPPED" || m.status === "FAILED" ? m.status.toLowerCase() + (m.statusReason ? " (" + m.statusReason.toLowerCase() + ")" : "") :
      // Answered, but what it carried could not be read (the agent said so, or sent its fallback).
      m.status === "ANSWERED" && m.statusReason ? "could not be read (" + m.statusReason.toLowerCase() + ")" : "";
    return el("span", "inbound-status", label);
  }

  function upsertMessage(m) {
    if (m.direction === "SYSTEM") return;
    var known = state.messages.get(m.id);
    var item = bubble(m);
    if (known) {
      known.replaceWith(item);
    } else {
      var list = $("messages");
      // Keep seq order even when events arrive out of order.
      var after = null;
      Array.prototype.forEach.call(list.children, function (li) {
        if (!after && Number(li.getAttribute("data-seq")) > m.seq) after = li;
      });
      list.insertBefore(item, after);
      list.scrollTop = list.scrollHeight;
    }
    state.messages.set(m.id, item);
  }

  function bubble(m) {
    var item = el("li", "msg " + m.direction.toLowerCase() + " role-" + m.senderRole.toLowerCase());
    item.setAttribute("data-id", m.id);
    item.setAttribute("data-seq", String(m.seq));
    item.setAttribute("data-status", m.status);
    var who = ROLE_LABEL[m.senderRole] || m.senderRole;
    if (m.operator) who += " \u00b7 " + m.operator.name;
    item.appendChild(el("span", "who", who));
    var files = m.attachments || [];
    var words = m.text != null ? m.text : files.length ? null : "[" + m.type.toLowerCase() + "]";
    if (words != null) item.appendChild(el("div", "bubble", words));
    files.forEach(function (a) { item.appendChild(attachmentView(a)); });
    if (m.reaction) item.appendChild(el("span", "reaction", m.reaction));
    var meta = el("div", "meta");
    meta.appendChild(el("span", "time", when(m.createdAt)));
    meta.appendChild(statusLine(m));
    if (m.status === "FAILED" && m.errorTitle) meta.appendChild(el("span", "err", m.errorTitle));
    if (m.retryable) {
      // A failed reply is sent again; failed customer messages are answered again, together.
      var again = el("button", "retry ghost", "Retry");
      again.type = "button";
      again.title = m.direction === "INBOUND" ? "Ask the AI again (charged once, when it answers)" : "Send this reply again";
      again.addEventListener("click", function () { retry(m.id, again); });
      meta.appendChild(again);
    }
    item.appendChild(meta);
    return item;
  }

  // A photo inline, an audio player with its transcript, a video player, a document as a link.
  // Links are signed by the API for a few minutes; the element keeps what it loaded.
  var ATTACHMENT_LABEL = { IMAGE: "photo", STICKER: "sticker", VOICE: "voice note", AUDIO: "audio", VIDEO: "video", DOCUMENT: "document" };
  function attachmentView(a) {
    var box = el("div", "attachment att-" + a.kind.toLowerCase());
    var label = ATTACHMENT_LABEL[a.kind] || a.kind.toLowerCase();
    if (!a.url) {
      box.appendChild(el("span", "att-error", label + " could not be opened" + (a.error ? " (" + a.error + ")" : "")));
      return box;
    }
    if (a.kind === "IMAGE" || a.kind === "STICKER") {
      var img = el("img", "att-image");
      img.src = a.url;
      img.alt = a.caption || label;
      box.appendChild(img);
    } else if (a.kind === "VOICE" || a.kind === "AUDIO") {
      var audio = el("audio", "att-audio");
      audio.controls = true;
      audio.preload = "metadata";
      audio.src = a.url;
      box.appendChild(audio);
      if (a.transcript) box.appendChild(el("div", "transcript", a.transcript));
    } else if (a.kind === "VIDEO") {
      var video = el("video", "att-video");
      video.controls = true;
      video.preload = "metadata";
      video.src = a.url;
      box.appendChild(video);
    } else {
      var link = el("a", "att-file", a.fileName || label);
      link.href = a.url;
      link.target = "_blank";
      link.rel = "noopener";
      box.appendChild(link);
    }
    return box;
  }

  async function retry(id, button) {
    button.disabled = true;
    say($("thread-error"), "");
    try {
      var data = await gql("mutation Retry($id: ID!) { retryMessage(id: $id) { " + MESSAGE_FIELDS + " } }", { id: id });
      // The rest of an inbound batch, and later statuses, arrive as live events.
      upsertMessage(data.retryMessage);
    } catch (e) {
      button.disabled = false;
      handle(e, $("thread-error"));
    }
  }

  async function setMode(mode) {
    say($("thread-error"), "");
    try {
      var data = await gql("mutation Mode($id: ID!, $mode: ConversationMode!) { setConversationMode(id: $id, mode: $mode) { " + CONV_FIELDS + " } }",
        { id: state.openId, mode: mode });
      var conv = data.setConversationMode;
      state.convs.set(conv.id, Object.assign(state.convs.get(conv.id) || {}, conv));
      renderHead(conv);
      renderList();
    } catch (e) { handle(e, $("thread-error")); }
  }

  // The operator has seen the conversation: its unread badge clears, for them only.
  async function markRead(id) {
    var conv = state.convs.get(id);
    if (conv) { conv.unreadCount = 0; renderList(); }
    try {
      await gql("mutation Read($id: ID!) { markConversationRead(id: $id) { id unreadCount } }", { id: id });
    } catch (e) { handle(e); }
  }

  // Assign, unassign, resolve, snooze, reopen: the answer is the conversation as it is now.
  async function inbox(mutation, extra) {
    say($("thread-error"), "");
    var args = "$id: ID!" + (extra ? ", " + extra.decl : "");
    var call = mutation + "(id: $id" + (extra ? ", " + extra.arg : "") + ")";
    try {
      var data = await gql("mutation Inbox(" + args + ") { conv: " + call + " { " + CONV_FIELDS + " } }",
        Object.assign({ id: state.openId }, extra ? extra.values : {}));
      var conv = data.conv;
      state.convs.set(conv.id, Object.assign(state.convs.get(conv.id) || {}, conv));
      state.open = state.convs.get(conv.id);
      renderHead(conv);
      loadList();
    } catch (e) { handle(e, $("thread-error")); }
  }

  // Others see "<name> is typing" while this operator types: a signal every few seconds.
  var typingSent = 0;
  function typing() {
    if (!state.me || !state.openId || Date.now() - typingSent < 3000) return;
    typingSent = Date.now();
    gql("mutation Typing($id: ID!) { setTyping(conversationId: $id) }", { id: state.openId })
      .catch(function () { /* a lost signal only hides an indicator */ });
  }

  // An operator's file: kept by the API first (POST /media/uploads), then sent by its id.
  async function uploadFile(file) {
    var resp = await fetch("/media/uploads?conversationId=" + encodeURIComponent(state.openId) +
      "&fileName=" + encodeURIComponent(file.name), {
      method: "POST",
      headers: { "Content-Type": file.type || "application/octet-stream", "Authorization": "Bearer " + state.key },
      body: file,
    });
    var body;
    try { body = await resp.json(); } catch (e) { throw new Error("HTTP " + resp.status); }
    if (resp.status === 401) throw new AuthError(body.error);
    if (!resp.ok) throw new Error(body.error || "upload failed (HTTP " + resp.status + ")");
    return body.id;
  }

  async function reply(ev) {
    ev.preventDefault();
    var text = $("reply").value.trim();
    var file = $("reply-file").files[0];
    if ((!text && !file) || !state.openId) return;
    $("send").disabled = true;
    say($("thread-error"), "");
    try {
      var attachments = file ? [await uploadFile(file)] : null;
      var data = await gql("mutation Reply($id: ID!, $text: String!, $files: [ID!]) { sendOperatorMessage(conversationId: $id, text: $text, attachments: $files) { " + MESSAGE_FIELDS + " } }",
        { id: state.openId, text: text, files: attachments });
      $("reply").value = "";
      $("reply-file").value = "";
      $("reply-file-name").textContent = "";
      var sent = data.sendOperatorMessage;
      // The live event can beat this answer, and it carries a later status than PENDING.
      if (!state.messages.has(sent.id)) upsertMessage(sent);
    } catch (e) { handle(e, $("thread-error")); }
    $("send").disabled = false;
  }

  // --- labels -------------------------------------------------------------------------------

  function labelChip(lb, onRemove) {
    var chip = el("span", "label-chip", lb.name);
    chip.style.backgroundColor = lb.color;
    chip.setAttribute("data-label", lb.name);
    if (onRemove) {
      var x = el("button", null, "\u00d7");
      x.type = "button";
      x.title = "Remove the label " + lb.name;
      x.setAttribute("aria-label", "Remove " + lb.name);
      x.addEventListener("click", onRemove);
      chip.appendChild(x);
    }
    return chip;
  }

  async function loadLabels() {
    var data = await gql("query Labels { labels { id name color } }");
    labels = data.labels;
    var filter = $("label-filter"), chosen = filter.value;
    filter.replaceChildren(el("option", null, "All labels"));
    filter.firstChild.value = "";
    labels.forEach(function (lb) {
      var opt = el("option", null, lb.name);
      opt.value = lb.id;
      filter.appendChild(opt);
    });
    filter.value = labels.some(function (lb) { return lb.id === chosen; }) ? chosen : "";
    var open = state.openId && state.convs.get(state.openId);
    if (open) renderLabels(open);
  }

  function renderLabels(conv) {
    var chips = $("label-chips");
    chips.replaceChildren();
    var on = conv.labels || [];
    on.forEach(function (lb) {
      chips.appendChild(labelChip(lb, function () { changeLabel(conv.id, lb.id, false); }));
    });
    var add = $("label-add");
    add.replaceChildren(el("option", null, "+ Label\u2026"));
    add.firstChild.value = "";
    labels.forEach(function (lb) {
      if (on.some(function (o) { return o.id === lb.id; })) return;
      var opt = el("option", null, lb.name);
      opt.value = lb.id;
      add.appendChild(opt);
    });
    var fresh = el("option", null, "New label\u2026");
    fresh.value = "new";
    add.appendChild(fresh);
  }

  async function changeLabel(convId, labelId, adding) {
    say($("thread-error"), "");
    try {
      var field = adding ? "addConversationLabel" : "removeConversationLabel";
      var data = await gql("mutation Label($c: ID!, $l: ID!) { " + field +
        "(conversationId: $c, labelId: $l) { id labels { id name color } } }", { c: convId, l: labelId });
      setLabelsOf(convId, data[field].labels);
    } catch (e) { handle(e, $("thread-error")); }
  }

  function setLabelsOf(convId, on) {
    var c = state.convs.get(convId);
    if (!c) return;
    c.labels = on;
    renderList();
    if (convId === state.openId) renderLabels(c);
  }

  async function refreshLabelsOf(convId) {
    // Another operator changed them: the event names the conversation, the query its labels.
    if (!state.convs.has(convId)) return;
    try {
      var data = await gql("query LabelsOf($id: ID!) { conversation(id: $id) { labels { id name color } } }", { id: convId });
      if (data.conversation) setLabelsOf(convId, data.conversation.labels);
    } catch (e) { handle(e); }
  }

  async function onLabelPicked() {
    var add = $("label-add"), value = add.value;
    add.value = "";
    if (!value || !state.openId) return;
    if (value === "new") {
      var name = window.prompt("Name of the new label");
      if (!name || !name.trim()) return;
      try {
        var made = await gql("mutation NewLabel($name: String!) { createLabel(name: $name) { id name color } }", { name: name });
        await loadLabels();
        value = made.createLabel.id;
      } catch (e) { handle(e, $("thread-error")); return; }
    }
    changeLabel(state.openId, value, true);
  }

  // --- private notes ----------------------------------------------------------------------

  async function loadNotes(convId) {
    $("note-list").replaceChildren();
    try {
      var data = await gql("query Notes($id: ID!) { conversation(id: $id) { notes(first: 50) { edges { node { " +
        NOTE_FIELDS + " } } } } }", { id: convId });
      if (state.openId !== convId || !data.conversation) return;
      // Newest first from the API; shown oldest first, like the messages.
      data.conversation.notes.edges.slice().reverse().forEach(function (e) { upsertNote(e.node); });
    } catch (e) { handle(e); }
  }

  function upsertNote(n) {
    var list = $("note-list");
    if (list.querySelector('[data-note="' + CSS.escape(n.id) + '"]')) return;
    var item = el("li", "note");
    item.setAttribute("data-note", n.id);
    item.appendChild(el("div", "note-text", n.text));
    var meta = el("div", "note-meta");
    meta.appendChild(el("span", "note-author", n.authorName || "a deleted key"));
    meta.appendChild(el("span", "time", when(n.createdAt)));
    var del = el("button", "ghost", "Delete");
    del.type = "button";
    del.addEventListener("click", function () { deleteNote(n.id, del); });
    meta.appendChild(del);
    item.appendChild(meta);
    list.appendChild(item);
  }

  function onNoteEvent(ev) {
    if (ev.__typename === "NoteAdded") { upsertNote(ev.note); return; }
    var gone = $("note-list").querySelector('[data-note="' + CSS.escape(ev.noteId) + '"]');
    if (gone) gone.remove();
  }

  async function addNote(ev) {
    ev.preventDefault();
    var text = $("note-text").value.trim();
    if (!text || !state.openId) return;
    $("note-add").disabled = true;
    say($("thread-error"), "");
    try {
      var data = await gql("mutation AddNote($c: ID!, $text: String!) { addNote(conversationId: $c, text: $text) { " +
        NOTE_FIELDS + " } }", { c: state.openId, text: text });
      $("note-text").value = "";
      upsertNote(data.addNote);
    } catch (e) { handle(e, $("thread-error")); }
    $("note-add").disabled = false;
  }

  async function deleteNote(id, button) {
    button.disabled = true;
    try {
      await gql("mutation DeleteNote($id: ID!) { deleteNote(id: $id) }", { id: id });
      onNoteEvent({ __typename: "NoteDeleted", noteId: id });
    } catch (e) {
      button.disabled = false;
      handle(e, $("thread-error"));
    }
  }

  // --- session ------------------------------------------------------------------------------

  function handle(e, where) {
    if (e instanceof AuthError) { signOut(e.message); return; }
    say(where || $("thread-error"), e.message);
  }

  async function signIn(key) {
    state.key = key;
    var data = await gql("query SignIn { viewer { id name creditBalance } channels { id kind displayName } " +
      "me { id name role } operators { id name } }");
    sessionStorage.setItem(KEY_STORE, key);
    $("tenant-name").textContent = data.viewer.name;
    state.me = data.me;
    data.operators.forEach(function (op) { state.operators.set(op.id, op); });
    say($("operator-name"), data.me ? data.me.name : "");
    // A machine key has no "mine".
    show(document.querySelector('[data-scope="MINE"]'), !!data.me);
    $("credits").textContent = data.viewer.creditBalance + " credits";
    var filter = $("channel-filter");
    filter.replaceChildren(el("option", null, "All channels"));
    filter.firstChild.value = "";
    data.channels.forEach(function (ch) {
      var opt = el("option", null, (KIND_LABEL[ch.kind] || ch.kind) + " · " + (ch.displayName || ch.id));
      opt.value = ch.id;
      filter.appendChild(opt);
    });
    show($("signin"), false);
    show($("app"), true);
    state.live = Live(onEvent, function (s) {
      var live = $("live");
      live.setAttribute("data-state", s);
      live.textContent = s === "live" ? "live" : s + "…";
    });
    state.live.add(EVENTS, function () { return { after: state.cursor }; }, onEvent);
    state.live.add("subscription Credits { creditBalance }", function () { return {}; }, function (d) {
      $("credits").textContent = d.creditBalance + " credits";
    });
    // Account notices (an event webhook endpoint switched off, ...): shown until signed out.
    state.live.add("subscription Notices { notices { kind message at } }", function () { return {}; }, function (d) {
      $("notice").textContent = d.notices.message;
      show($("notice"), true);
    });
    await loadLabels();
    await loadList();
    loadUsage().catch(function () { /* the chart is optional: the inbox works without it */ });
  }

  function signOut(reason) {
    sessionStorage.removeItem(KEY_STORE);
    if (state.live) state.live.stop();
    state = fresh();
    document.dispatchEvent(new CustomEvent("console:conversation", { detail: { conv: null, gql: gql } }));
    labels = [];
    show($("app"), false);
    show($("conversation"), false);
    show($("placeholder"), true);
    show($("signin"), true);
    say($("signin-error"), reason || "");
    $("api-key").focus();
  }

  $("signin-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var key = $("api-key").value.trim();
    if (!key) return;
    say($("signin-error"), "");
    try {
      await signIn(key);
      $("api-key").value = "";
    } catch (e) {
      state.key = null;
      say($("signin-error"), e instanceof AuthError ? "That API key was not accepted." : e.message);
    }
  });
  $("signout").addEventListener("click", function () { signOut(""); });
  $("take-over").addEventListener("click", function () { setMode("HUMAN"); });
  $("hand-back").addEventListener("click", function () { setMode("AI"); });
  $("composer").addEventListener("submit", reply);
  $("reply").addEventListener("input", typing);
  $("assign-me").addEventListener("click", function () { inbox("assignConversation"); });
  $("unassign").addEventListener("click", function () { inbox("unassignConversation"); });
  $("resolve").addEventListener("click", function () { inbox("resolveConversation"); });
  $("reopen").addEventListener("click", function () { inbox("reopenConversation"); });
  $("snooze").addEventListener("click", function () {
    inbox("snoozeConversation", { decl: "$until: DateTime!", arg: "until: $until",
      values: { until: new Date(Date.now() + 3600000).toISOString() } });
  });
  document.querySelectorAll("#status-tabs [data-status]").forEach(function (b) {
    b.addEventListener("click", function () { chooseTab("status", b.getAttribute("data-status")); });
  });
  document.querySelectorAll("#scope-tabs [data-scope]").forEach(function (b) {
    b.addEventListener("click", function () { chooseTab("scope", b.getAttribute("data-scope")); });
  });
  $("reply-file").addEventListener("change", function () {
    var f = $("reply-file").files[0];
    $("reply-file-name").textContent = f ? f.name : "";
  });
  $("reply").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $("composer").requestSubmit(); }
  });
  $("channel-filter").addEventListener("change", loadList);
  $("label-filter").addEventListener("change", loadList);
  $("label-add").addEventListener("change", onLabelPicked);
  $("note-form").addEventListener("submit", addNote);
  var searchTimer = null;
  $("search").addEventListener("input", function () { clearTimeout(searchTimer); searchTimer = setTimeout(loadList, 250); });

  var saved = sessionStorage.getItem(KEY_STORE);
  if (saved) {
    signIn(saved).catch(function (e) { signOut(e instanceof AuthError ? "Please sign in again." : e.message); });
  } else {
    signOut("");
  }
})();
