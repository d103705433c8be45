/*
 * Web chat widget. Embed with one tag:
 *   <script src="https://HOST/widget.js" data-channel="PUBLIC_ID" defer></script>
 * Optional: data-title="Chat with us", data-open="true" (open the panel on load).
 *
 * Plain JavaScript, no build step, no dependencies. Rules this file keeps:
 * - Message text only ever reaches the DOM through textContent: no innerHTML, anywhere.
 * - The visitor's token (issued and signed by the server) lives in localStorage and travels in
 *   the Authorization header, never in a URL. It expires after a time unused; answers carry a
 *   renewed one (X-Visitor-Token) while it is in use, and a 401 starts a new session.
 * - Everything renders inside a shadow root, so the host page's CSS and ours do not collide.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.getAttribute("data-channel")) {
    if (window.console) console.error("widget.js: add data-channel=\"PUBLIC_ID\" to the script tag");
    return;
  }
  var channel = script.getAttribute("data-channel");
  var base = new URL(script.src, location.href).origin;
  var api = base + "/widget/" + encodeURIComponent(channel);
  var storeKey = "mca-widget:" + channel;
  var title = script.getAttribute("data-title") || "Chat with us";
  var ROLE_LABEL = { customer: "You", ai: "Assistant", operator: "Team" };

  var state = {
    token: null,
    maxChars: 2000,
    maxImageBytes: 5 * 1024 * 1024,
    byId: new Map(), // server message id -> its <li>
    pending: new Map(), // clientMessageId -> {text, el} until the server confirms it
    typing: false,
    typingVersion: 0, // bumped by every typing change the stream reports
    stream: null, // AbortController of the open stream
    retryMs: 1000,
    fatal: null, // an error that retrying cannot fix (e.g. this origin is not allowed)
  };

  // --- storage ------------------------------------------------------------------------------

  function load() {
    try {
      var saved = JSON.parse(localStorage.getItem(storeKey) || "null");
      if (saved && typeof saved.token === "string") {
        state.token = saved.token;
        state.maxChars = saved.maxChars || state.maxChars;
      }
    } catch (e) { /* storage blocked or corrupt: start as a new visitor */ }
  }

  function save() {
    try {
      if (state.token) {
        localStorage.setItem(storeKey, JSON.stringify({ token: state.token, maxChars: state.maxChars }));
      } else {
        localStorage.removeItem(storeKey);
      }
    } catch (e) { /* private mode: the chat still works for this page view */ }
  }

  // --- DOM (createElement + textContent only) -----------------------------------------------

  // el("button", "send", "Send", {type: "submit"}, [children]): text via textContent only.
  function el(tag, cls, text, attrs, children) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  function chatIcon() {
    // Drawn, not an emoji: not every system has a font with the speech-balloon glyph.
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    var path = document.createElementNS(ns, "path");
    [["viewBox", "0 0 24 24"], ["width", "26"], ["height", "26"], ["aria-hidden", "true"]]
      .forEach(function (a) { svg.setAttribute(a[0], a[1]); });
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z");
    svg.appendChild(path);
    return svg;
  }

  var host = el("div", null, null, { id: "mca-widget" });
  var root = host.attachShadow({ mode: "open" });
  var launcher = el("button", "launcher", null, { type: "button", "aria-label": "Open chat" }, [chatIcon()]);
  var closeBtn = el("button", "close", "\u00D7", { type: "button", "aria-label": "Close chat" });
  var empty = el("li", "empty", "Ask us anything \u2014 we usually answer right away.");
  var list = el("ol", "messages", null, { "aria-live": "polite" }, [empty]);
  var typing = el("div", "typing", null, { hidden: "", "aria-label": "The assistant is typing" },
    [el("span"), el("span"), el("span")]);
  var errorLine = el("p", "error", null, { hidden: "", role: "alert" });
  var input = el("textarea", "input", null, { rows: "1", placeholder: "Type a message\u2026", "aria-label": "Message" });
  var IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp"];
  var picker = el("input", "picker", null, { type: "file", accept: IMAGE_TYPES.join(","), hidden: "", "aria-label": "Image" });
  var attach = el("button", "attach", "+", { type: "button", "aria-label": "Send an image", title: "Send an image" });
  var form = el("form", "composer", null, {}, [attach, picker, input, el("button", "send", "Send", { type: "submit" })]);
  var panel = el("section", "panel", null, { hidden: "", role: "dialog", "aria-label": title }, [
    el("header", "header", null, {}, [el("span", "title", title), closeBtn]), list, typing, errorLine, form]);
  root.appendChild(el("link", null, null, { rel: "stylesheet", href: base + "/widget.css" }));
  root.appendChild(panel);
  root.appendChild(launcher);

  function showError(text) {
    errorLine.textContent = text || "";
    errorLine.hidden = !text;
  }

  function scrollDown() { list.scrollTop = list.scrollHeight; }

  function setTyping(on) {
    state.typing = !!on;
    typing.hidden = !state.typing;
    if (state.typing) scrollDown();
  }

  function bubble(role, text, note, imageSrc, file) {
    // The text goes in as textContent: markup in a message stays literal text.
    var parts = [el("span", "who", ROLE_LABEL[role] || role)];
    if (imageSrc) parts.push(el("img", "image", null, { src: imageSrc, alt: text || "image" }));
    if (file) parts.push(el("a", "file", file.name, { href: file.href, target: "_blank", rel: "noopener" }));
    if (text || !(imageSrc || file)) parts.push(el("div", "bubble", text));
    parts.push(el("span", "note", note || ""));
    return el("li", "msg " + role, null, { "data-role": role }, parts);
  }

  // A message's first image, as a link signed by the API (relative to its origin).
  function imageOf(m) {
    var files = m.attachments || [];
    for (var i = 0; i < files.length; i++) {
      if (files[i].url && (files[i].kind === "image" || files[i].kind === "sticker")) return base + files[i].url;
    }
    return null;
  }

  // A message's first document, as {name, href}.
  function fileOf(m) {
    var files = m.attachments || [];
    for (var i = 0; i < files.length; i++) {
      if (files[i].url && files[i].kind === "document") return { name: files[i].fileName || "document", href: base + files[i].url };
    }
    return null;
  }

  // The stream announces a message without its files: the history has them, by signed link.
  function hasFiles(m) { return (m.type === "image" || m.type === "document") && !m.attachments; }

  function noteFor(m) { return m.direction === "inbound" && m.status === "failed" ? "not answered" : ""; }

  function render(m) {
    var known = state.byId.get(m.id);
    if (known) {
      known.setAttribute("data-status", m.status || "");
      known.querySelector(".note").textContent = noteFor(m);
      if ((imageOf(m) && !known.querySelector(".image")) || (fileOf(m) && !known.querySelector(".file"))) {
        var fresh = bubble(known.getAttribute("data-role"), m.text || "", noteFor(m), imageOf(m), fileOf(m));
        fresh.setAttribute("data-id", m.id);
        fresh.setAttribute("data-status", m.status || "");
        known.replaceWith(fresh);
        state.byId.set(m.id, fresh);
      }
      return;
    }
    var pend = m.clientMessageId && state.pending.get(m.clientMessageId);
    var item;
    if (pend) {
      // Our own optimistic bubble, now confirmed by the server.
      item = pend.el;
      state.pending.delete(m.clientMessageId);
      item.classList.remove("sending", "unsent");
      item.querySelector(".note").textContent = noteFor(m);
    } else {
      item = bubble(m.senderRole || (m.direction === "inbound" ? "customer" : "ai"), m.text || "", noteFor(m), imageOf(m), fileOf(m));
      list.insertBefore(item, firstPending());
      if (hasFiles(m)) loadHistory().catch(function () {});
    }
    item.setAttribute("data-id", m.id);
    item.setAttribute("data-status", m.status || "");
    state.byId.set(m.id, item);
    empty.hidden = true;
    if (m.direction === "outbound") setTyping(false);
    scrollDown();
  }

  function firstPending() {
    var first = null;
    state.pending.forEach(function (p) { if (!first) first = p.el; });
    return first;
  }

  // --- HTTP ---------------------------------------------------------------------------------

  // The server renews a token that has been in use for a while: keep the newest one.
  function adopt(resp) {
    var renewed = resp.headers.get("X-Visitor-Token");
    if (renewed && resp.ok) {
      state.token = renewed;
      save();
    }
  }

  function authHeaders(extra) {
    var h = extra || {};
    if (state.token) h["Authorization"] = "Bearer " + state.token;
    return h;
  }

  async function readError(resp) {
    try {
      var body = await resp.json();
      return body && body.error ? String(body.error) : "HTTP " + resp.status;
    } catch (e) {
      return "HTTP " + resp.status;
    }
  }

  function explain(status, message, retryAfter) {
    if (status === 403 && /not allowed/.test(message)) {
      return "This chat is not available on this website.";
    }
    if (status === 429) return "You are sending messages too quickly. Try again in " + (retryAfter || "a few") + " s.";
    return message;
  }

  var sessionInFlight = null;

  // One request at a time: opening the panel and a quick first message both ask for a token,
  // and two answers would make two visitors (the stream following one, the message the other).
  function session() {
    if (!sessionInFlight) {
      sessionInFlight = requestSession().finally(function () { sessionInFlight = null; });
    }
    return sessionInFlight;
  }

  async function requestSession() {
    var resp;
    try {
      resp = await fetch(api + "/session", { method: "POST", headers: authHeaders() });
    } catch (e) {
      // A refused origin looks exactly like a network failure to the page (CORS hides the
      // answer), so the hint for the site owner goes to the console.
      console.warn("widget.js: cannot reach " + api + ". If this is your site, check that " +
        location.origin + " is one of the channel's allowed origins.");
      throw new Error("The chat could not connect. Please try again later.");
    }
    if (!resp.ok) {
      var err = new Error(explain(resp.status, await readError(resp), resp.headers.get("Retry-After")));
      err.status = resp.status;
      throw err;
    }
    var body = await resp.json();
    state.token = body.token;
    state.maxChars = (body.limits && body.limits.maxMessageChars) || state.maxChars;
    state.maxImageBytes = (body.limits && body.limits.maxImageBytes) || state.maxImageBytes;
    save();
  }

  async function ensureSession() {
    if (!state.token) await session();
  }

  async function loadHistory() {
    // The stream is the authority on typing; a history answer computed before a typing event
    // arrived must not switch the dots back off.
    var seen = state.typingVersion;
    var resp = await fetch(api + "/messages?limit=100", { headers: authHeaders() });
    if (resp.status === 401) {
      // Expired or no longer valid: a new visitor, with nothing to show yet. A stream still
      // open for the old one reconnects with the new token.
      state.token = null;
      save();
      await session();
      if (state.stream) state.stream.abort();
      return;
    }
    adopt(resp);
    if (!resp.ok) throw new Error(explain(resp.status, await readError(resp)));
    var body = await resp.json();
    body.messages.forEach(render);
    if (seen === state.typingVersion) setTyping(body.typing);
  }

  // --- live stream: SSE read through fetch, so the token stays in a header -----------------

  function streamTyping(on) {
    state.typingVersion++;
    setTyping(on);
  }

  function dispatch(event, data) {
    if (event === "ready") {
      state.retryMs = 1000;
      streamTyping(data.typing);
      loadHistory().catch(function () {}); // whatever happened while we were away
    } else if (event === "message") {
      render(data.message);
    } else if (event === "typing") {
      streamTyping(data.typing);
    } else if (event === "resync") {
      loadHistory().catch(function () {});
    }
  }

  function parseBlock(block) {
    var event = "message";
    var data = "";
    block.split("\n").forEach(function (line) {
      if (!line || line.charAt(0) === ":") return; // comments are heartbeats
      var colon = line.indexOf(":");
      var field = colon < 0 ? line : line.slice(0, colon);
      var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data += (data ? "\n" : "") + value;
    });
    if (data) dispatch(event, JSON.parse(data));
  }

  async function openStream() {
    if (state.stream || state.fatal || !state.token) return;
    var ctrl = new AbortController();
    state.stream = ctrl;
    var watchdog = null;
    var arm = function () {
      clearTimeout(watchdog);
      // The server sends a heartbeat every 15 s; silence for longer means a dead connection.
      watchdog = setTimeout(function () { ctrl.abort(); }, 45000);
    };
    var delay = state.retryMs;
    try {
      arm();
      var resp = await fetch(api + "/stream", { headers: authHeaders(), signal: ctrl.signal });
      adopt(resp);
      if (resp.status === 401) {
        state.token = null;
        save();
        await session();
        delay = 0;
      } else if (resp.status === 403 || resp.status === 404) {
        state.fatal = explain(resp.status, await readError(resp));
        showError(state.fatal);
      } else if (resp.status === 429) {
        delay = 1000 * (parseInt(resp.headers.get("Retry-After") || "30", 10) || 30);
      } else if (resp.ok && resp.body) {
        var reader = resp.body.getReader();
        var decoder = new TextDecoder();
        var buf = "";
        for (;;) {
          var chunk = await reader.read();
          if (chunk.done) break;
          arm();
          buf += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
          var cut;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            parseBlock(buf.slice(0, cut));
            buf = buf.slice(cut + 2);
          }
        }
      }
    } catch (e) {
      /* network error or watchdog abort: reconnect below */
    } finally {
      clearTimeout(watchdog);
      state.stream = null;
    }
    if (state.fatal) return;
    state.retryMs = Math.min(state.retryMs * 2, 30000);
    setTimeout(openStream, delay);
  }

  // --- sending ------------------------------------------------------------------------------

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  function sleep(ms) {
    return new Promise(function (r) { setTimeout(r, ms); });
  }

  async function post(text, clientId) {
    // The same clientMessageId on every attempt: a retry after a lost answer is stored once.
    var renewed = false;
    for (var attempt = 0; ; attempt++) {
      var resp;
      try {
        resp = await fetch(api + "/messages", {
          method: "POST",
          headers: authHeaders({ "Content-Type": "application/json" }),
          body: JSON.stringify({ text: text, clientMessageId: clientId }),
        });
      } catch (e) {
        if (attempt < 3) { await sleep(1000 * Math.pow(2, attempt)); continue; }
        throw new Error("Could not reach the chat. Check your connection and try again.");
      }
      if (resp.ok) {
        adopt(resp);
        return (await resp.json()).message;
      }
      if (resp.status === 401 && !renewed) {
        renewed = true;
        state.token = null;
        await session();
        continue;
      }
      if (resp.status >= 500 && attempt < 3) { await sleep(1000 * Math.pow(2, attempt)); continue; }
      throw new Error(explain(resp.status, await readError(resp), resp.headers.get("Retry-After")));
    }
  }

  // An image: shown at once from the file (as a data: URL, which a strict page policy allows),
  // then posted as the request body; the same clientMessageId on every attempt.
  async function postImage(file, clientId) {
    var renewed = false;
    for (var attempt = 0; ; attempt++) {
      var resp;
      try {
        resp = await fetch(api + "/images?clientMessageId=" + encodeURIComponent(clientId), {
          method: "POST", headers: authHeaders({ "Content-Type": file.type }), body: file,
        });
      } catch (e) {
        if (attempt < 3) { await sleep(1000 * Math.pow(2, attempt)); continue; }
        throw new Error("Could not reach the chat. Check your connection and try again.");
      }
      if (resp.ok) {
        adopt(resp);
        return (await resp.json()).message;
      }
      if (resp.status === 401 && !renewed) {
        renewed = true;
        state.token = null;
        await session();
        continue;
      }
      if (resp.status >= 500 && attempt < 3) { await sleep(1000 * Math.pow(2, attempt)); continue; }
      throw new Error(explain(resp.status, await readError(resp), resp.headers.get("Retry-After")));
    }
  }

  function readAsDataUrl(file) {
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () { resolve(reader.result); };
      reader.onerror = function () { reject(new Error("That image could not be read.")); };
      reader.readAsDataURL(file);
    });
  }

  async function sendImage(file) {
    showError("");
    if (IMAGE_TYPES.indexOf(file.type) < 0) {
      showError("Only JPEG, PNG and WebP images can be sent.");
      return;
    }
    if (file.size > state.maxImageBytes) {
      showError("That image is too large (at most " + Math.floor(state.maxImageBytes / 1048576) + " MB).");
      return;
    }
    var clientId = newId();
    var item = bubble("customer", "", "sending\u2026", await readAsDataUrl(file));
    item.classList.add("sending");
    list.appendChild(item);
    empty.hidden = true;
    state.pending.set(clientId, { text: "", el: item });
    scrollDown();
    try {
      await ensureSession();
      var message = await postImage(file, clientId);
      message.clientMessageId = clientId;
      if (!state.byId.has(message.id)) render(message);
      openStream();
    } catch (e) {
      state.pending.delete(clientId);
      item.classList.remove("sending");
      item.classList.add("unsent");
      item.setAttribute("data-status", "unsent");
      item.querySelector(".note").textContent = "not sent";
      showError(e.message);
    }
  }

  attach.addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    var file = picker.files && picker.files[0];
    picker.value = "";
    if (file) sendImage(file);
  });

  async function send(text) {
    var clientId = newId();
    var item = bubble("customer", text, "sending\u2026");
    item.classList.add("sending");
    list.appendChild(item);
    empty.hidden = true;
    state.pending.set(clientId, { text: text, el: item });
    scrollDown();
    showError("");
    try {
      await ensureSession();
      var message = await post(text, clientId);
      message.clientMessageId = clientId;
      // The stream may already have shown it with a later status (processing, answered).
      if (!state.byId.has(message.id)) render(message);
      openStream();
    } catch (e) {
      state.pending.delete(clientId);
      item.classList.remove("sending");
      item.classList.add("unsent");
      item.setAttribute("data-status", "unsent");
      item.querySelector(".note").textContent = "not sent";
      showError(e.message);
    }
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    if (text.length > state.maxChars) {
      showError("That message is too long (" + text.length + " of at most " + state.maxChars + " characters).");
      return;
    }
    input.value = "";
    send(text);
  });

  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });

  // --- opening and start-up -----------------------------------------------------------------

  var started = false;

  async function start() {
    if (started) return;
    started = true;
    try {
      await ensureSession();
      await loadHistory();
      openStream();
    } catch (e) {
      started = false;
      showError(e.message);
    }
  }

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    host.classList.add("open");
    start();
    input.focus();
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    host.classList.remove("open");
  }

  launcher.addEventListener("click", function () { if (panel.hidden) open(); else close(); });
  closeBtn.addEventListener("click", close);

  function mount() {
    document.body.appendChild(host);
    load();
    // A returning visitor reconnects right away so a reply that lands while the panel is
    // closed is already there when they open it.
    if (state.token) start();
    if (script.getAttribute("data-open") === "true") open();
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  window.MCAWidget = { open: open, close: close };
})();
