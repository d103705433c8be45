/*
 * Operator console, templates: when a WhatsApp conversation's 24-hour window is closed, the
 * composer cannot reach the customer; this offers the channel's approved templates, a field
 * per parameter, and sends the chosen one (sendTemplate). console.js announces the open
 * conversation with a "console:conversation" event carrying its GraphQL function. Text from
 * the API reaches the DOM through textContent only.
 */
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var TEMPLATES = "query T($c: ID!) { templates(channelId: $c) { name language body header footer " +
    "unsupportedReason parameters { key component name example } } }";
  var SEND = "mutation S($i: SendTemplateInput!) { sendTemplate(input: $i) { id status } }";
  var current = { conv: null, gql: null, templates: [], loadedFor: null };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function say(text) { $("template-error").textContent = text || ""; $("template-error").hidden = !text; }

  function windowClosed(conv) {
    var closes = conv.replyWindowClosesAt;
    return !closes || new Date(closes) <= new Date();
  }

  function chosen() {
    var i = Number($("template-pick").value);
    return isNaN(i) ? null : current.templates[i] || null;
  }

  function renderFields() {
    var t = chosen();
    var fields = $("template-fields");
    fields.replaceChildren();
    $("template-preview").textContent = t ? [t.header, t.body, t.footer].filter(Boolean).join("\n\n") : "";
    $("template-send").disabled = !t || !!t.unsupportedReason;
    if (!t) return;
    if (t.unsupportedReason) { say(t.unsupportedReason); return; }
    say("");
    t.parameters.forEach(function (p) {
      var id = "tp-" + p.key.replace(/[^a-z0-9]/gi, "-");
      var label = el("label", null, p.key);
      label.htmlFor = id;
      var input = el("input");
      input.id = id;
      input.setAttribute("data-key", p.key);
      input.placeholder = p.example || "";
      input.required = true;
      fields.appendChild(label);
      fields.appendChild(input);
    });
  }

  async function load(conv) {
    if (current.loadedFor === conv.channel.id) { renderFields(); return; }
    current.loadedFor = conv.channel.id;
    current.templates = [];
    var pick = $("template-pick");
    pick.replaceChildren(el("option", null, "Loading templates…"));
    try {
      var data = await current.gql(TEMPLATES, { c: conv.channel.id });
      current.templates = data.templates;
    } catch (e) {
      current.loadedFor = null;
      say(e.message);
    }
    pick.replaceChildren();
    if (!current.templates.length) pick.appendChild(el("option", null, "No approved templates"));
    current.templates.forEach(function (t, i) {
      var opt = el("option", null, t.name + " (" + t.language + ")");
      opt.value = String(i);
      pick.appendChild(opt);
    });
    renderFields();
  }

  document.addEventListener("console:conversation", function (ev) {
    var conv = ev.detail.conv;
    current.conv = conv;
    current.gql = ev.detail.gql;
    var offer = !!conv && conv.channel.kind === "WHATSAPP" && !conv.archived && windowClosed(conv);
    $("templates").hidden = !offer;
    if (!conv) current.loadedFor = null;
    if (offer) load(conv);
  });

  $("template-pick").addEventListener("change", renderFields);

  $("templates").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var t = chosen();
    if (!t || !current.conv) return;
    var parameters = Array.prototype.map.call($("template-fields").querySelectorAll("input"), function (input) {
      return { key: input.getAttribute("data-key"), value: input.value };
    });
    $("template-send").disabled = true;
    say("");
    try {
      // The message itself arrives as a live event, like every other message.
      await current.gql(SEND, { i: { conversationId: current.conv.id, name: t.name, language: t.language,
        parameters: parameters } });
      Array.prototype.forEach.call($("template-fields").querySelectorAll("input"), function (input) { input.value = ""; });
    } catch (e) { say(e.message); }
    $("template-send").disabled = false;
  });
})();
