// The verifier's recount on the tablet, offline first like counting (served
// from here, never a CDN).
//
// A tap on Found / Not found is a mark of kind "recount" in the tablet's
// queue (queue.js, loaded first): kept in IndexedDB with its own id and the
// tap's time, shown on the card at once, sent to
// /api/v1/rollcalls/<id>/recount/entries/ when the network lets it. Finishing
// first sends everything this recount still holds, then asks the server to
// verify, and shows what the server decided. The first count's marks are
// never fetched: the page knows only the people drawn and the verifier's own
// marks. Without JavaScript every button is a form posted to the server.
(function () {
  "use strict";

  var Q = window.CustodyQueue;
  var RECOUNT = "recount";
  var S = {};

  function RecountPage(root, queue) {
    this.root = root;
    this.queue = queue;
    this.rollcall = root.dataset.rollcall;
    this.finished = root.dataset.finished === "1";
    this.finishing = false;
    this.finishWhenSent = false; // Finish was pressed offline: done once the queue is sent
    this.cards = new Map(); // booking number -> {node, serverMark}
    var page = this;
    document.querySelectorAll(".recount-person[data-inmate]").forEach(function (node) {
      page.cards.set(node.dataset.inmate, { node: node, serverMark: node.dataset.mark || null });
    });
  }

  RecountPage.prototype.start = function () {
    var page = this;
    this.queue.onChange(function (queue, stored) { page.acknowledge(stored); page.render(); });
    if (!this.finished) {
      document.getElementById("sync").hidden = false;
      document.addEventListener("click", function (event) { page.onTap(event); });
      var form = document.getElementById("recount-finish-form");
      if (form) form.addEventListener("submit", function (event) { event.preventDefault(); page.finish(); });
    }
    this.render();
  };

  // The verifier's latest mark of a person: the one not yet sent, else the server's.
  RecountPage.prototype.markOf = function (booking) {
    var pending = this.queue.list(Q.PENDING, this.rollcall, RECOUNT).filter(function (r) {
      return r.inmate === booking;
    });
    if (pending.length) return { status: pending[pending.length - 1].status, pending: true };
    var card = this.cards.get(booking);
    return { status: card ? card.serverMark : null, pending: false };
  };

  RecountPage.prototype.onTap = function (event) {
    var button = event.target.closest(".recount-actions button[name=status]");
    if (!button || this.finishing) return;
    event.preventDefault();
    var booking = button.closest(".recount-person").dataset.inmate;
    if (this.markOf(booking).status === button.value) return; // a second tap is not a second mark
    this.queue.add(Q.newMark({
      kind: RECOUNT,
      rollcall: this.rollcall,
      inmate: booking,
      status: button.value,
      method: "visual",
    }));
  };

  RecountPage.prototype.acknowledge = function (stored) {
    var page = this;
    stored.forEach(function (record) {
      var card = page.cards.get(record.inmate);
      if (record.rollcall === page.rollcall && record.kind === RECOUNT && card) {
        card.serverMark = record.status;
      }
    });
  };

  RecountPage.prototype.left = function () {
    var page = this;
    var left = 0;
    this.cards.forEach(function (card, booking) { if (!page.markOf(booking).status) left += 1; });
    return left;
  };

  RecountPage.prototype.render = function () {
    var page = this;
    var refused = this.queue.list(Q.REFUSED, this.rollcall, RECOUNT);
    var refusedInmates = new Set(refused.map(function (r) { return r.inmate; }));
    this.cards.forEach(function (card, booking) {
      var mark = page.markOf(booking);
      var node = card.node;
      node.classList.toggle("marked-present", mark.status === "present");
      node.classList.toggle("marked-absent", mark.status === "absent");
      node.classList.toggle("unsent", mark.pending);
      node.classList.toggle("refused", refusedInmates.has(booking));
      node.dataset.shownMark = mark.status || "";
      var state = node.querySelector("[data-role=state]");
      state.textContent = { present: S.found, absent: S.not_found }[mark.status] || "";
      state.className = mark.status ? "mark-" + mark.status : "";
      state.hidden = !mark.status;
      node.querySelector("[data-role=unsent]").hidden = !mark.pending;
    });
    var left = this.left();
    var progress = document.getElementById("recount-left");
    progress.dataset.left = String(left);
    progress.textContent = Q.sayCount(S.left_to_recount, left);
    var button = document.getElementById("recount-finish");
    if (button) button.disabled = left > 0 || this.finishing;
    this.renderRefused(refused);
    var pending = Q.renderSync(this.queue, this.rollcall, RECOUNT);
    if (this.finishWhenSent && !this.finishing && pending === 0 && this.queue.network === "online") {
      this.finish();
    }
  };

  RecountPage.prototype.renderRefused = function (refused) {
    var box = document.getElementById("mark-errors-box");
    var list = document.getElementById("mark-errors");
    var page = this;
    list.replaceChildren.apply(list, refused.map(function (record) {
      var item = document.createElement("li");
      var card = page.cards.get(record.inmate);
      var who = record.inmate + (card ? " · " + card.node.dataset.name : "");
      var what = record.status === "present" ? S.found : S.not_found;
      var reasons = Object.keys(record.errors || {}).map(function (k) { return record.errors[k].join(" "); }).join(" ");
      var text = document.createElement("span");
      text.textContent = who + " — " + what + ": " + reasons;
      var dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "btn";
      dismiss.textContent = S.dismiss;
      dismiss.addEventListener("click", function () { page.queue.dismiss(record.id); });
      item.append(text, dismiss);
      return item;
    }));
    box.hidden = refused.length === 0;
  };

  // Every mark of this recount sent first; then the server decides, and the
  // page says what it decided.
  RecountPage.prototype.finish = function () {
    if (this.finishing || this.left() > 0) return;
    var page = this;
    var note = document.getElementById("finish-note");
    var root = this.root;
    this.finishing = true;
    this.finishWhenSent = false;
    Q.show(note, S.sending);
    this.render();
    this.queue.drain(this.rollcall, RECOUNT).then(function (waiting) {
      if (waiting) throw { waiting: true };
      return Q.send(root.dataset.verifyUrl, { method: "POST" });
    }).then(function (response) {
      if (!response.ok) {
        return Q.detailOf(response).then(function (detail) {
          throw { message: Q.say(S.finish_failed, { detail: detail }) };
        });
      }
      return response.json().then(function (rollcall) {
        if (rollcall.status === "verified") return page.done(S.verified, "ok");
        // Not verified: how many the server says the recount did not find.
        return Q.send(root.dataset.recountUrl).then(function (answer) {
          return answer.ok ? answer.json() : { missing: null };
        }).then(function (recount) {
          var missing = recount.missing;
          page.done(missing ? Q.sayCount(S.recount_failed, missing.length) : S.not_verified, "bad");
        });
      });
    }).catch(function (failure) {
      page.finishing = false;
      if (failure.waiting || failure.offline) {
        page.finishWhenSent = true;
        Q.show(note, S.cannot_finish);
      } else {
        Q.show(note, failure.message);
      }
      page.render();
    });
  };

  RecountPage.prototype.done = function (text, tone) {
    var outcome = document.getElementById("recount-outcome");
    outcome.className = "flash " + (tone === "ok" ? "" : "flash-error");
    outcome.dataset.outcome = tone === "ok" ? "verified" : "not_verified";
    Q.show(outcome, text);
    Q.show(document.getElementById("finish-note"), "");
    this.finished = true;
    document.querySelectorAll(".recount-actions, #recount-finish-form").forEach(function (node) {
      node.hidden = true;
    });
  };

  function boot() {
    var root = document.querySelector("[data-recount-app]");
    if (!root) return;
    Q.openQueue(root).then(function (queue) {
      S = Q.strings();
      new RecountPage(root, queue).start();
      return queue.run();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
