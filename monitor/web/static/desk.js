// tgmonitor desk: new alerts without a reload, and countdowns that tick. Served by the desk
// itself (the Content-Security-Policy allows no other script). No archive text is built into
// HTML here: new cards come from the desk already rendered and escaped by its templates.
"use strict";

function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll("[data-deadline]")) {
    const left = Date.parse(el.dataset.deadline) - now;
    if (Number.isNaN(left)) continue;
    const past = left < 0;
    let s = Math.floor(Math.abs(left) / 1000);
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60);
    const text = (d ? d + "d " : "") + h + "h " + m + "m";
    el.textContent = past ? "(passed " + text + " ago)" : "(" + text + " left)";
  }
}

async function poll(queue) {
  const newest = queue.dataset.newest || "0";
  const url = queue.dataset.poll + (queue.dataset.poll.includes("?") ? "&" : "?") + "after=" + encodeURIComponent(newest);
  try {
    const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
    if (!response.ok) return;
    const top = response.headers.get("X-Newest-Alert");
    if (!top) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const cards = Array.from(doc.querySelectorAll("article.card"));
    const empty = document.getElementById("no-alerts");
    if (empty) empty.remove();
    for (const card of cards.reverse()) {
      if (document.getElementById(card.id)) continue;
      const back = card.querySelector("input[name=next]");
      if (back) back.value = queue.dataset.back || "/";
      queue.prepend(document.importNode(card, true));
    }
    queue.dataset.newest = top;
    const live = document.getElementById("live");
    if (live) { live.hidden = false; live.textContent = cards.length + " new alert(s) arrived"; }
    tick();
  } catch (err) {
    // the desk restarted or the network blinked: the next poll tries again
  }
}

document.addEventListener("DOMContentLoaded", () => {
  tick();
  setInterval(tick, 30000);
  const queue = document.getElementById("queue");
  if (queue && !new URLSearchParams(location.search).has("before")) {
    setInterval(() => poll(queue), 5000);
  }
});
