// Live updates: server-sent events from /events. Each event is listed in the feed box, sent
// to the page as a "lamppost:event" DOM event (the map recolours its posts), and every
// [data-live-part] block re-fetches its server-rendered fragment, so tables follow without
// a reload.
(function () {
  "use strict";
  var feed = document.getElementById("feed");
  var dot = document.getElementById("live");
  var timer = null;
  function refreshParts() {
    document.querySelectorAll("[data-live-part]").forEach(function (el) {
      fetch(el.getAttribute("data-live-part"), {headers: {"X-Partial": "1"}, credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { el.innerHTML = html; } });
    });
  }
  function say(text) {
    if (!feed) { return; }
    var p = document.createElement("p");
    p.textContent = text;
    feed.prepend(p);
    while (feed.children.length > 6) { feed.lastChild.remove(); }
  }
  var es = new EventSource("/events");
  es.onopen = function () { if (dot) { dot.classList.add("on"); } document.body.dataset.live = "1"; };
  es.onerror = function () { if (dot) { dot.classList.remove("on"); } };
  function handle(e) {
    var ev = JSON.parse(e.data);
    if (ev.type === "alarm") {
      say(ev.t + " " + ev.post_id + " " + ev.alarm + " " + ev.state);
    } else if (ev.type === "order") {
      say("order " + ev.order_id + " → " + ev.status + ": " + ev.cause);
    }
    window.dispatchEvent(new CustomEvent("lamppost:event", {detail: ev}));
    clearTimeout(timer);
    timer = setTimeout(refreshParts, 250);
  }
  es.addEventListener("alarm", handle);
  es.addEventListener("order", handle);
})();
