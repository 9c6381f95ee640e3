// The dashboard's only script besides htmx (served from here, never a CDN).
// 1. While a supervisor is writing a resolution (a "Resolve" panel open and
//    touched in the last minute) the 5-second poll neither asks nor swaps, so
//    the keyboard and the text stay put. Left idle, the panel no longer holds
//    the dashboard back: the poll resumes and the draft is put back.
// 2. When the server cannot be reached, say so instead of showing old numbers
//    as if they were live; the poll keeps retrying and clears the notice.
(function () {
  "use strict";

  var IDLE_MS = 60 * 1000;
  var lastActivity = 0;
  var drafts = null;

  function openPanels() {
    return document.querySelectorAll("#live details.resolve[open]");
  }

  function writing() {
    return openPanels().length > 0 && Date.now() - lastActivity < IDLE_MS;
  }

  // The panel's own 5-second GET (a form post into the panel is not one). By
  // the request, not detail.elt: on swap events that is the target, #live.
  function isPoll(event) {
    var config = event.detail.requestConfig;
    return Boolean(config && config.verb === "get" && config.headers["HX-Trigger"] === "live");
  }

  function intoPanel(event) {
    return Boolean(event.detail.target && event.detail.target.id === "live");
  }

  function show(id, text) {
    var p = document.getElementById(id);
    if (!p) return;
    if (text !== null) p.textContent = text;
    p.hidden = text === null;
  }

  function notice(kind) {
    var p = document.getElementById("connection-lost");
    show("connection-lost", kind && p ? p.dataset[kind] : null);
  }

  ["pointerdown", "keydown", "input", "focusin"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      if (event.target && event.target.closest && event.target.closest("#live")) {
        lastActivity = Date.now();
      }
    }, true);
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (isPoll(event) && writing()) {
      event.preventDefault();
      var p = document.getElementById("poll-paused");
      if (p) p.hidden = false;
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!intoPanel(event)) return;
    // A poll sent just before the panel was opened must not close it either.
    if (isPoll(event) && writing()) {
      event.detail.shouldSwap = false;
      return;
    }
    drafts = [];
    openPanels().forEach(function (panel) {
      var card = panel.closest("article");
      var text = panel.querySelector("textarea");
      if (card && text) drafts.push({ card: card.id, text: text.value });
    });
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (!intoPanel(event)) return;
    var p = document.getElementById("poll-paused");
    if (p) p.hidden = true;
    (drafts || []).forEach(function (draft) {
      var card = document.getElementById(draft.card);
      var panel = card && card.querySelector("details.resolve");
      var text = panel && panel.querySelector("textarea");
      if (!text) return; // resolved meanwhile, or no longer ours to act on
      panel.open = true;
      if (!text.value) text.value = draft.text; // the server's copy (an error) wins
    });
    drafts = null;
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) notice(null);
  });
  document.addEventListener("htmx:sendError", function () { notice("offline"); });
  document.addEventListener("htmx:timeout", function () { notice("offline"); });
  document.addEventListener("htmx:responseError", function (event) {
    notice(isPoll(event) ? "offline" : "refused");
  });
})();
