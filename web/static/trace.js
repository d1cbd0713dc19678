// The auth trace's live updates: new events arrive as server-sent events
// and are added to their attempt's timeline (a new attempt goes on top).
// Without this script the page reloads every 5 seconds instead.
"use strict";
(function () {
  const root = document.getElementById("trace");
  if (!root || !window.EventSource) return;
  const list = document.getElementById("attempts");
  const live = document.getElementById("live");
  const tmpl = document.getElementById("fault-template");
  let last = 0;
  for (const li of document.querySelectorAll(".ev[data-seq]")) last = Math.max(last, Number(li.dataset.seq));
  const url = new URL(root.dataset.events, location.href);
  url.searchParams.set("after", String(last));

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const marks = { ok: "✓", passed: "✓", fault: "⚡", stopped: "■" };
  function mark(outcome) { return marks[outcome] || "✗"; }

  function attemptBlock(ev) {
    let block = document.getElementById("attempt-" + ev.attempt);
    if (block) return block;
    const empty = document.getElementById("empty");
    if (empty) empty.remove();
    block = el("li", "attempt open");
    block.id = "attempt-" + ev.attempt;
    block.dataset.client = ev.client_id || "";
    const h = el("h2");
    h.append(el("span", "mark", "…"), " Attempt " + ev.attempt + ": ",
      el("span", "who", ev.client_name || ev.client_id || "unknown client"));
    block.append(h, el("ol", "timeline"));
    list.prepend(block);
    return block;
  }

  function addFaults(block, clientID) {
    if (!clientID || !tmpl || block.querySelector(".faults")) return;
    const forms = tmpl.content.cloneNode(true);
    for (const input of forms.querySelectorAll('input[name="client_id"]')) input.value = clientID;
    block.append(forms);
  }

  function add(ev) {
    if (ev.seq <= last) return;
    last = ev.seq;
    const block = attemptBlock(ev);
    if (ev.client_id) {
      const who = block.querySelector("h2 .who");
      if (block.dataset.client === "") {
        block.dataset.client = ev.client_id;
        who.textContent = ev.client_name || ev.client_id;
      }
      addFaults(block, ev.client_id);
    }
    if (ev.user && !block.querySelector("h2 .user")) block.querySelector("h2").append(" · ", el("span", "user", ev.user));
    const li = el("li", "ev " + ev.outcome);
    li.dataset.seq = String(ev.seq);
    li.append(el("span", "mark", mark(ev.outcome)), " ",
      el("time", "", new Date(ev.time).toISOString().slice(11, 19)), " ", el("code", "", ev.route));
    if (ev.step) li.append(" ", el("span", "step", ev.step));
    if (ev.status) li.append(" ", el("span", "status", String(ev.status)));
    if (ev.token) li.append(" ", el("span", "fp", "#" + ev.token));
    if (ev.reason) li.append(el("div", "reason", ev.reason));
    if (ev.hint) li.append(el("div", "hint", ev.hint));
    block.querySelector(".timeline").append(li);
    if (ev.outcome === "passed" || (ev.outcome === "ok" && / \/mcp/.test(ev.route) && /tools\/call/.test(ev.step || ""))) {
      block.className = "attempt connected";
      block.querySelector("h2 .mark").textContent = "✓";
    } else if (ev.outcome === "stopped" || ev.outcome === "failed") {
      block.className = "attempt stopped";
      block.querySelector("h2 .mark").textContent = "✗";
    }
  }

  function connect() {
    url.searchParams.set("after", String(last));
    const es = new EventSource(url.toString());
    es.onopen = function () { live.textContent = "Live: new events appear as they happen."; };
    es.onmessage = function (m) { add(JSON.parse(m.data)); };
    es.onerror = function () {
      live.textContent = "Reconnecting…";
      es.close();
      setTimeout(connect, 2000);
    };
  }
  connect();
})();
