// The tablet count screen, offline first (served from here, never a CDN).
//
// Marks go through the tablet's queue (queue.js, loaded first): written to
// IndexedDB at once, sent to the roll-call API when the network lets them,
// never lost on a reload nor stored twice. This file draws the count screen
// and the board over it.
(function () {
  "use strict";

  var Q = window.CustodyQueue;
  var PENDING = Q.PENDING;
  var REFUSED = Q.REFUSED;
  var pad = Q.pad;
  var makeId = Q.makeId;
  var isoWithOffset = Q.isoWithOffset;
  var say = Q.say;
  var sayCount = Q.sayCount;
  var show = Q.show;
  var send = Q.send;
  var detailOf = Q.detailOf;
  var setText = Q.setText;
  var renderPending = Q.renderPending;
  var ScanWatcher = Q.ScanWatcher;
  var startClocks = Q.startClocks;
  var S = {};
  var COUNT = "count"; // the kind of mark this screen makes (queue.js)
  var REFRESH_EVERY_MS = 15000;
  var CLOCK_WARNING_MS = 60000;
  // --- The count screen -------------------------------------------------------

  function CountScreen(root, queue) {
    this.root = root;
    this.queue = queue;
    this.rollcall = root.dataset.rollcall;
    this.mayMark = root.dataset.mayMark === "1";
    // An enrolled tablet of this count's facility that reads wristbands: only
    // then is a scan sent as rfid (the server refuses it from anywhere else).
    this.tabletRfid = root.dataset.tabletRfid === "1";
    this.tiles = new Map(); // booking number -> {node, out, serverMark, serverMethod}
    this.confirmLeft = false;
    this.submitting = false;
    this.acks = 0; // a refresh begun before an acknowledgement is stale
    var screen = this;
    root.querySelectorAll(".tile[data-inmate]").forEach(function (node) {
      screen.tiles.set(node.dataset.inmate, {
        node: node,
        out: node.dataset.out === "1",
        serverMark: node.dataset.mark || null,
        serverMethod: node.querySelector("[data-role=method]") ? node.querySelector("[data-role=method]").dataset.method || null : null,
      });
    });
  }

  CountScreen.prototype.start = function () {
    var screen = this;
    this.queue.onChange(function (queue, stored) { screen.acknowledge(stored); screen.render(); });
    if (this.mayMark) {
      document.getElementById("sync").hidden = false;
      this.root.addEventListener("click", function (event) { screen.onTap(event); });
      this.bindScan();
      this.bindSubmit();
    }
    this.render();
    setInterval(function () { screen.refresh(); }, REFRESH_EVERY_MS);
  };

  // What the screen shows for a person: their latest mark not yet sent,
  // else the server's.
  CountScreen.prototype.markOf = function (booking) {
    var pending = this.queue.list(PENDING, this.rollcall, COUNT).filter(function (r) { return r.inmate === booking; });
    if (pending.length) {
      var last = pending[pending.length - 1];
      return { status: last.status, method: last.method, pending: true };
    }
    var tile = this.tiles.get(booking);
    return { status: tile ? tile.serverMark : null, method: tile ? tile.serverMethod : null, pending: false };
  };

  CountScreen.prototype.mark = function (booking, status, method) {
    if (this.markOf(booking).status === status) return false; // a second tap is not a second mark
    this.confirmLeft = false;
    this.queue.add({
      kind: COUNT,
      id: makeId(),
      rollcall: this.rollcall,
      inmate: booking,
      status: status,
      method: method,
      observed_at: isoWithOffset(new Date()),
      state: PENDING,
    });
    return true;
  };

  CountScreen.prototype.onTap = function (event) {
    var button = event.target.closest(".tile-form button[name=status]");
    if (!button) return;
    event.preventDefault();
    var tile = button.closest(".tile");
    this.mark(tile.dataset.inmate, button.value, "visual");
  };

  CountScreen.prototype.bindScan = function () {
    var screen = this;
    var form = document.getElementById("scan-form");
    var input = document.getElementById("scan-input");
    if (!form) return;
    var watcher = new ScanWatcher(input);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var raw = input.value;
      var scanned = watcher.wasScan(raw);
      input.value = "";
      watcher.reset();
      input.focus();
      // A burst on a browser that is not an enrolled tablet is recorded, and
      // shown, as what the server can vouch for: a person's word.
      screen.markScanned(raw.trim(), scanned && screen.tabletRfid ? "rfid" : "manual");
    });
    this.bindNfc();
  };

  // Marks present whoever a scanned or typed number names, with ``method``.
  CountScreen.prototype.markScanned = function (typed, method) {
    var result = document.getElementById("scan-result");
    if (!typed) return;
    var booking = this.findBooking(typed);
    if (!booking) {
      show(result, say(S.not_on_roster, { number: typed }));
      result.className = "scan-result bad";
      this.sayWhereTheyBelong(typed, result);
      return;
    }
    var name = this.tiles.get(booking).node.dataset.name;
    var marked = this.mark(booking, "present", method);
    show(result, booking + " · " + name + " — " + (marked ? S.present : S.already_present) +
      " (" + S.methods[method] + ")");
    result.className = "scan-result ok";
  };

  // Web NFC (Chrome on Android): a wristband's text record is its booking
  // number. Reading starts on a tap (the browser asks for permission then).
  CountScreen.prototype.bindNfc = function () {
    var screen = this;
    var button = document.getElementById("nfc-button");
    if (!button || !this.tabletRfid || !("NDEFReader" in window)) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var reader = new window.NDEFReader();
      reader.scan().then(function () {
        button.disabled = true;
        reader.addEventListener("reading", function (event) {
          var text = (event.message.records || []).filter(function (r) { return r.recordType === "text"; })[0];
          if (text) screen.markScanned(new TextDecoder(text.encoding || "utf-8").decode(text.data).trim(), "rfid");
        });
      }, function (error) {
        var result = document.getElementById("scan-result");
        show(result, say(S.nfc_failed, { detail: error && error.message ? error.message : String(error) }));
        result.className = "scan-result bad";
      });
    });
  };

  // Someone from another unit: the server says where the record has them
  // (within this officer's facilities). Offline, the first sentence stands.
  CountScreen.prototype.sayWhereTheyBelong = function (typed, result) {
    var url = this.root.dataset.whereUrl;
    if (!url) return;
    send(url + "?inmate=" + encodeURIComponent(typed)).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (body) {
      if (body && body.message && result.textContent.indexOf(typed) !== -1) {
        show(result, say(S.not_on_roster, { number: typed }) + " " + body.message);
      }
    }, function () {});
  };

  // Readers type what is printed on the wristband; case may differ.
  CountScreen.prototype.findBooking = function (typed) {
    if (this.tiles.has(typed)) return typed;
    var wanted = typed.toUpperCase();
    var found = null;
    this.tiles.forEach(function (tile, booking) {
      if (booking.toUpperCase() === wanted) found = booking;
    });
    return found;
  };

  CountScreen.prototype.bindSubmit = function () {
    var screen = this;
    var form = document.getElementById("submit-form");
    if (form) form.addEventListener("submit", function (event) { event.preventDefault(); screen.submit(); });
  };

  // Only with every mark of the count sent, and the server reachable. Anyone
  // it would report unaccounted is confirmed first, with the number the
  // server's settlement gives (totals.would_be_unaccounted): the result shows
  // the same one.
  CountScreen.prototype.submit = function () {
    if (this.submitting) return;
    var screen = this;
    var note = document.getElementById("submit-note");
    this.submitting = true;
    show(note, S.sending);
    this.queue.drain(this.rollcall, COUNT).then(function (waiting) {
      if (waiting) throw { message: S.cannot_submit };
      return screen.confirmLeft ? 0 : screen.wouldBeUnaccounted();
    }).then(function (missing) {
      if (missing > 0) {
        screen.confirmLeft = true;
        screen.submitting = false;
        show(note, sayCount(S.confirm_left, missing));
        return;
      }
      return send(screen.root.dataset.submitUrl, { method: "POST" }).then(function (response) {
        // 409: already submitted (another tablet); the page shows the result.
        if (response.ok || response.status === 409) {
          window.location.assign(screen.root.dataset.pageUrl);
          return;
        }
        return detailOf(response).then(function (detail) {
          throw { message: say(S.submit_failed, { detail: detail }) };
        });
      });
    }).catch(function (failure) {
      screen.submitting = false;
      show(note, failure.offline ? S.cannot_submit : failure.message);
    });
  };

  CountScreen.prototype.wouldBeUnaccounted = function () {
    return send(this.root.dataset.detailUrl).then(function (response) {
      if (!response.ok) {
        return detailOf(response).then(function (detail) {
          throw { message: say(S.submit_failed, { detail: detail }) };
        });
      }
      return response.json().then(function (body) { return body.totals.would_be_unaccounted || 0; });
    });
  };

  // Marks sent from this tablet are now the server's.
  CountScreen.prototype.acknowledge = function (stored) {
    var screen = this;
    stored.forEach(function (record) {
      var tile = screen.tiles.get(record.inmate);
      if (record.rollcall === screen.rollcall && tile) {
        tile.serverMark = record.status;
        tile.serverMethod = record.method;
      }
    });
    if (stored.length) this.acks += 1;
  };

  // Marks from other tablets on the same count; and whether it was closed.
  CountScreen.prototype.refresh = function () {
    var screen = this;
    if (this.root.dataset.status !== "in_progress") return;
    if (this.queue.sending || this.queue.list(PENDING, this.rollcall, COUNT).length || document.hidden) return;
    var acks = this.acks;
    send(this.root.dataset.detailUrl).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (body) {
      if (!body) return;
      screen.queue.setNetwork("online");
      if (acks !== screen.acks) return;
      if (body.status !== screen.root.dataset.status) {
        show(document.getElementById("submit-note"), S.submitted_elsewhere);
        window.location.assign(screen.root.dataset.pageUrl);
        return;
      }
      (body.expected || []).forEach(function (line) {
        var tile = screen.tiles.get(line.inmate);
        if (tile) {
          tile.serverMark = line.mark;
          tile.serverMethod = line.mark_method || null;
        }
      });
      screen.render();
    }, function () {
      screen.queue.setNetwork("offline");
    });
  };

  CountScreen.prototype.leftToCount = function () {
    var screen = this;
    var left = [];
    this.tiles.forEach(function (tile, booking) {
      if (!tile.out && !screen.markOf(booking).status) left.push(tile);
    });
    return left;
  };

  CountScreen.prototype.render = function () {
    var screen = this;
    var tally = { present: 0, absent: 0, out: 0 };
    var refused = this.queue.list(REFUSED, this.rollcall, COUNT);
    var refusedInmates = new Set(refused.map(function (r) { return r.inmate; }));
    this.tiles.forEach(function (tile, booking) {
      var mark = screen.markOf(booking);
      screen.paintTile(tile, mark, refusedInmates.has(booking));
      if (mark.status === "present") tally.present += 1;
      else if (mark.status === "absent") tally.absent += 1;
      if (tile.out && mark.status !== "present") tally.out += 1;
    });
    var left = this.leftToCount();
    setText("tally-left", left.length);
    setText("tally-present", tally.present);
    setText("tally-absent", tally.absent);
    setText("tally-out", tally.out);
    this.renderLeft(left);
    this.renderRefused(refused);
    this.renderSync();
  };

  CountScreen.prototype.paintTile = function (tile, mark, refused) {
    var node = tile.node;
    node.classList.toggle("mark-present", mark.status === "present");
    node.classList.toggle("mark-absent", mark.status === "absent");
    node.classList.toggle("unsent", mark.pending);
    node.classList.toggle("refused", refused);
    var state = node.querySelector("[data-role=state]");
    if (state) state.textContent = { present: S.present, absent: S.absent, out_authorized: S.out_marked }[mark.status] || "";
    var unsent = node.querySelector("[data-role=unsent]");
    if (unsent) unsent.hidden = !mark.pending;
    var badge = node.querySelector("[data-role=method]");
    if (badge) {
      var method = mark.status ? mark.method || "" : "";
      badge.dataset.method = method;
      badge.className = "method-badge method-" + (method || "none");
      badge.textContent = method ? S.methods[method] || method : "";
      badge.hidden = !method;
    }
  };

  CountScreen.prototype.renderLeft = function (left) {
    var list = document.getElementById("left-list");
    if (!list) return;
    list.replaceChildren.apply(list, left.map(function (tile) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = "#" + tile.node.id;
      link.textContent = tile.node.dataset.cell + " · " + tile.node.dataset.name;
      item.appendChild(link);
      return item;
    }));
    var none = document.getElementById("left-none");
    if (none) none.hidden = left.length > 0;
  };

  CountScreen.prototype.renderRefused = function (refused) {
    var box = document.getElementById("mark-errors-box");
    var list = document.getElementById("mark-errors");
    if (!box || !list) return;
    var screen = this;
    list.replaceChildren.apply(list, refused.map(function (record) {
      var item = document.createElement("li");
      var tile = screen.tiles.get(record.inmate);
      var who = record.inmate + (tile ? " · " + tile.node.dataset.name : "");
      var what = record.status === "present" ? S.present : S.absent;
      var reasons = Object.keys(record.errors || {}).map(function (k) { return record.errors[k].join(" "); }).join(" ");
      var text = document.createElement("span");
      text.textContent = who + " — " + what + " (" + record.observed_at.slice(11, 19) + "): " + reasons;
      var dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "btn";
      dismiss.textContent = S.dismiss;
      dismiss.addEventListener("click", function () { screen.queue.dismiss(record.id); });
      item.append(text, dismiss);
      return item;
    }));
    box.hidden = refused.length === 0;
  };

  CountScreen.prototype.renderSync = function () {
    var queue = this.queue;
    var pending = Q.renderSync(queue, this.rollcall, COUNT);
    var button = document.getElementById("submit-button");
    if (button) button.classList.toggle("blocked", pending > 0 && queue.network !== "online");
    var note = document.getElementById("submit-note");
    if (note && !this.submitting && !this.confirmLeft) {
      show(note, pending > 0 && queue.network === "offline" ? S.cannot_submit : "");
    }
  };

  // --- The board: sends what this tablet still holds for any count -----------

  function startBoard(root, queue) {
    queue.onChange(function () {
      renderPending(document.getElementById("pending"), queue.list(PENDING).length, false);
      renderRefusedElsewhere(root, queue.list(REFUSED));
    });
  }

  // Refused marks are shown on their count's page (a recount's, on its
  // recount page): link to each such page.
  function renderRefusedElsewhere(root, refused) {
    var box = document.getElementById("refused-elsewhere");
    var list = document.getElementById("refused-counts");
    if (!box || !list) return;
    var pages = new Map();
    refused.forEach(function (r) {
      var page = root.dataset.pageUrlTemplate.replace(Q.NIL_UUID, r.rollcall) +
        (r.kind === "recount" ? "recount/" : "");
      pages.set(page, r.rollcall);
    });
    var counts = Array.from(pages.keys());
    list.replaceChildren.apply(list, counts.map(function (page) {
      var rollcall = pages.get(page);
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.className = "btn";
      link.href = page;
      link.textContent = rollcall.slice(0, 8);
      item.appendChild(link);
      return item;
    }));
    box.hidden = counts.length === 0;
    show(document.getElementById("refused-note"), refused.length ? sayCount(S.refused_marks, refused.length) : "");
  }

  // --- Start ------------------------------------------------------------------

  function clockWarning(skew) {
    if (Math.abs(skew) < CLOCK_WARNING_MS) return;
    show(document.getElementById("clock-warning"),
      say(S.clock_off, { minutes: Math.round(Math.abs(skew) / 60000) }));
  }

  function boot() {
    var skew = startClocks();
    var root = document.querySelector("[data-count-app]");
    if (!root) return;
    var screenRoot = document.getElementById("count-screen");
    Q.openQueue(root).then(function (queue) {
      S = Q.strings();
      if (screenRoot && screenRoot.dataset.mayMark === "1") clockWarning(skew);
      if (screenRoot) new CountScreen(screenRoot, queue).start();
      else startBoard(root, queue);
      return queue.run();
    });
  }

  // For the browser test: the id maker without crypto.randomUUID.
  window.CustodyCounts = { makeId: makeId, isoWithOffset: isoWithOffset };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
