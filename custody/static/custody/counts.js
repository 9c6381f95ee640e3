// The tablet count screen, offline first (served from here, never a CDN).
//
// Every mark is written to IndexedDB on the tablet before anything else,
// with its own id (the server stores a mark once per id) and the tablet's
// time. A queue sends the marks in batches to the roll-call API and forgets
// only those the server answered "accepted" or "duplicate"; refused marks
// stay on screen until someone dismisses them. A failed send (no network,
// server down, timeout) is retried with back-off, at once when the browser
// says the network is back, and from any count page opened later. So a mark
// made on a tablet is neither lost (a reload re-reads the queue) nor stored
// twice (a resend is a duplicate).
(function () {
  "use strict";

  var DB_NAME = "custody-counts";
  var STORE = "marks";
  var BATCH_SIZE = 200;
  var REQUEST_TIMEOUT_MS = 10000;
  var MAX_BACKOFF_MS = 30000;
  var REFRESH_EVERY_MS = 15000;
  var CLOCK_WARNING_MS = 60000;
  var PENDING = "pending";
  var REFUSED = "refused";
  // A keyboard-wedge scanner "types" a wristband's code as a burst: every
  // character within SCAN_MAX_GAP_MS of the one before (scanners send one
  // every 1-20 ms; a person's fastest keystrokes are 60 ms or more apart, and
  // never ten in a row under 35), at least SCAN_MIN_CHARS of them into an
  // empty box, then Enter within SCAN_ENTER_GAP_MS. Anything else (a key
  // typed slowly, a correction, a paste, the button instead of Enter) is a
  // person's typing: ``manual``. See docs/api.md "Tablets".
  var SCAN_MAX_GAP_MS = 35;
  var SCAN_MIN_CHARS = 4;
  var SCAN_ENTER_GAP_MS = 50;

  // --- Small helpers ---------------------------------------------------------

  function pad(number, width) {
    var text = String(number);
    while (text.length < (width || 2)) text = "0" + text;
    return text;
  }

  // A version 4 UUID; crypto.randomUUID exists only on HTTPS and localhost.
  function makeId(useNative) {
    if (useNative !== false && window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    var hex = Array.prototype.map.call(bytes, function (b) { return pad(b.toString(16)); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  // The tablet's time with its own UTC offset, e.g. 2026-11-24T06:02:11.250-06:00.
  function isoWithOffset(date) {
    var offset = -date.getTimezoneOffset();
    var sign = offset >= 0 ? "+" : "-";
    offset = Math.abs(offset);
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      "T" + pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) +
      "." + pad(date.getMilliseconds(), 3) + sign + pad(Math.floor(offset / 60)) + ":" + pad(offset % 60);
  }

  function readStrings() {
    var node = document.getElementById("count-strings");
    return node ? JSON.parse(node.textContent) : {};
  }

  var S = {};

  function say(text, values) {
    return String(text || "").replace(/%\((\w+)\)s/g, function (whole, key) {
      return values && key in values ? values[key] : whole;
    });
  }

  function sayCount(forms, n) {
    return say(n === 1 ? forms.one : forms.other, { n: n });
  }

  function csrfToken() {
    // Read each time: signing in again in another tab rotates it.
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function show(node, text) {
    if (!node) return;
    node.textContent = text || "";
    node.hidden = !text;
  }

  // A fetch that gives up after REQUEST_TIMEOUT_MS. A network failure or a
  // timeout rejects with {offline: true}; an HTTP error is an answer.
  function send(url, options) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS) : null;
    var settings = Object.assign({ credentials: "same-origin" }, options || {});
    settings.headers = Object.assign(
      { Accept: "application/json", "X-CSRFToken": csrfToken() },
      settings.headers || {}
    );
    if (controller) settings.signal = controller.signal;
    return fetch(url, settings).then(
      function (response) { clearTimeout(timer); return response; },
      function (error) { clearTimeout(timer); throw { offline: true, cause: error }; }
    );
  }

  function detailOf(response) {
    return response.json().then(
      function (body) { return (body && body.detail) || String(response.status); },
      function () { return String(response.status); }
    );
  }

  // --- The queue's storage: IndexedDB, or memory where there is none ---------

  function promised(request) {
    return new Promise(function (resolve, reject) {
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function committed(transaction) {
    return new Promise(function (resolve, reject) {
      transaction.oncomplete = function () { resolve(); };
      transaction.onerror = transaction.onabort = function () { reject(transaction.error); };
    });
  }

  function openDatabase() {
    return new Promise(function (resolve, reject) {
      if (!window.indexedDB) { reject(new Error("no IndexedDB")); return; }
      var request = window.indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        var store = request.result.createObjectStore(STORE, { keyPath: "id" });
        store.createIndex("rollcall", "rollcall");
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function IndexedStore(db) {
    this.db = db;
  }
  IndexedStore.prototype.all = function () {
    return promised(this.db.transaction(STORE).objectStore(STORE).getAll());
  };
  IndexedStore.prototype.put = function (records) {
    var transaction = this.db.transaction(STORE, "readwrite");
    records.forEach(function (record) { transaction.objectStore(STORE).put(record); });
    return committed(transaction);
  };
  IndexedStore.prototype.remove = function (ids) {
    var transaction = this.db.transaction(STORE, "readwrite");
    ids.forEach(function (id) { transaction.objectStore(STORE).delete(id); });
    return committed(transaction);
  };

  // Lost on reload: said on screen (sync-problem) when it is all there is.
  function MemoryStore() {}
  MemoryStore.prototype.all = function () { return Promise.resolve([]); };
  MemoryStore.prototype.put = function () { return Promise.resolve(); };
  MemoryStore.prototype.remove = function () { return Promise.resolve(); };

  // --- The queue --------------------------------------------------------------

  // Marks are sent only under the sign-in that made them: a tablet handed to
  // the next shift keeps the others until their officer signs in again, so
  // the record never names the wrong person as the one who saw someone.
  function MarkQueue(store, entriesUrlTemplate, user) {
    this.store = store;
    this.user = user;
    this.othersWaiting = 0;
    this.urlTemplate = entriesUrlTemplate;
    this.records = new Map(); // id -> record, the in-page mirror of the store
    this.network = navigator.onLine === false ? "offline" : "online";
    this.problem = ""; // why the last send failed, when the server said why
    this.storageProblem = ""; // when marks cannot be kept across a reload
    this.failures = 0;
    this.sending = null;
    this.retryTimer = null;
    this.listeners = [];
  }

  MarkQueue.prototype.load = function () {
    var queue = this;
    return this.store.all().then(function (records) {
      records.forEach(function (record) {
        if (record.user && record.user !== queue.user) queue.othersWaiting += 1;
        else queue.records.set(record.id, record);
      });
      queue.changed();
    });
  };

  MarkQueue.prototype.onChange = function (listener) { this.listeners.push(listener); };

  MarkQueue.prototype.changed = function (acked) {
    var queue = this;
    this.listeners.forEach(function (listener) { listener(queue, acked || []); });
  };

  MarkQueue.prototype.list = function (state, rollcall) {
    var found = [];
    this.records.forEach(function (record) {
      if (record.state === state && (!rollcall || record.rollcall === rollcall)) found.push(record);
    });
    return found.sort(function (a, b) { return a.observed_at < b.observed_at ? -1 : 1; });
  };

  // Kept in memory (and so on screen) even if the tablet cannot store it.
  MarkQueue.prototype.add = function (record) {
    var queue = this;
    record.user = this.user;
    this.records.set(record.id, record);
    this.changed();
    return this.store.put([record]).then(
      function () { queue.flush(); },
      function () {
        queue.storageProblem = S.storage_failed;
        queue.changed();
        queue.flush();
      }
    );
  };

  // A refused mark leaves only when a person says so.
  MarkQueue.prototype.dismiss = function (id) {
    this.records.delete(id);
    this.changed();
    return this.store.remove([id]);
  };

  // One sender at a time; a call while sending waits for that round.
  // Resolves true when the round went through, false when it will be retried.
  MarkQueue.prototype.flush = function () {
    if (this.sending) return this.sending;
    var queue = this;
    clearTimeout(this.retryTimer);
    this.sending = this.sendAll().then(
      function (sent) {
        queue.failures = 0;
        queue.problem = "";
        // Nothing to send proves nothing about the network.
        if (sent || queue.network !== "offline") queue.setNetwork("online");
        return true;
      },
      function (failure) {
        queue.failures += 1;
        queue.problem = failure.message || "";
        queue.setNetwork(failure.offline ? "offline" : "trouble");
        queue.retryLater();
        return false;
      }
    ).then(function (succeeded) {
      queue.sending = null;
      queue.changed();
      // A mark made as the round was ending waits for no other trigger.
      if (succeeded && queue.list(PENDING).length) queue.flush();
      return succeeded;
    });
    return this.sending;
  };

  // Flushes until nothing of ``rollcall`` is left or a round fails;
  // resolves with how many of its marks still wait.
  MarkQueue.prototype.drain = function (rollcall) {
    var queue = this;
    return this.flush().then(function (succeeded) {
      var left = queue.list(PENDING, rollcall).length;
      return succeeded && left ? queue.drain(rollcall) : left;
    });
  };

  MarkQueue.prototype.sendAll = function () {
    var queue = this;
    var batch = this.nextBatch();
    if (!batch.length) return Promise.resolve(false);
    this.setNetwork("sending");
    return this.post(batch).then(function (answer) {
      return queue.settle(batch, answer);
    }).then(function (progressed) {
      if (!progressed) throw { message: say(S.server_error, { status: "?" }) };
      return queue.sendAll().then(function () { return true; });
    });
  };

  // The oldest pending marks of one count.
  MarkQueue.prototype.nextBatch = function () {
    var pending = this.list(PENDING);
    if (!pending.length) return [];
    var rollcall = pending[0].rollcall;
    return pending.filter(function (r) { return r.rollcall === rollcall; }).slice(0, BATCH_SIZE);
  };

  MarkQueue.prototype.post = function (batch) {
    var url = this.urlTemplate.replace("00000000-0000-0000-0000-000000000000", batch[0].rollcall);
    var body = batch.map(function (r) {
      return { id: r.id, inmate: r.inmate, status: r.status, method: r.method, observed_at: r.observed_at };
    });
    return send(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      if (response.ok) return response.json();
      return detailOf(response).then(function (detail) {
        // Signed out (or the CSRF token is stale): the marks wait for a sign-in.
        var message = response.status === 401 || response.status === 403
          ? S.session_ended + " (" + detail + ")"
          : say(S.server_error, { status: response.status });
        throw { message: message, status: response.status };
      });
    });
  };

  // Forget what the server holds; keep what it refused, with its reasons.
  MarkQueue.prototype.settle = function (batch, answer) {
    var results = new Map(((answer && answer.results) || []).map(function (r) { return [r.id, r]; }));
    var stored = [];
    var refused = [];
    batch.forEach(function (record) {
      var result = results.get(record.id);
      if (!result) return; // unanswered: sent again next round
      if (result.status === "accepted" || result.status === "duplicate") {
        stored.push(record);
      } else if (result.status === "rejected") {
        refused.push(Object.assign({}, record, { state: REFUSED, errors: result.errors || {} }));
      }
    });
    var queue = this;
    return Promise.all([
      this.store.remove(stored.map(function (r) { return r.id; })),
      this.store.put(refused),
    ]).then(function () {
      stored.forEach(function (r) { queue.records.delete(r.id); });
      refused.forEach(function (r) { queue.records.set(r.id, r); });
      queue.changed(stored);
      return stored.length + refused.length > 0;
    });
  };

  MarkQueue.prototype.retryLater = function () {
    var queue = this;
    var delay = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, this.failures - 1));
    delay += Math.floor(Math.random() * 500); // tablets of one unit do not retry in step
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(function () { queue.flush(); }, delay);
  };

  MarkQueue.prototype.setNetwork = function (state) {
    if (this.network === state) return;
    this.network = state;
    this.changed();
  };

  MarkQueue.prototype.watchNetwork = function () {
    var queue = this;
    window.addEventListener("online", function () {
      queue.failures = 0;
      queue.setNetwork("online");
      queue.flush();
    });
    window.addEventListener("offline", function () { queue.setNetwork("offline"); });
  };

  // --- The facility clock -----------------------------------------------------

  // Ticks from the server's time (never the tablet's) in the facility's offset.
  function startClocks() {
    var skews = [];
    document.querySelectorAll("time.clock[data-server-ms]").forEach(function (node) {
      var skew = Number(node.dataset.serverMs) - Date.now();
      var offset = Number(node.dataset.offsetMinutes) * 60000;
      skews.push(skew);
      function tick() {
        var at = new Date(Date.now() + skew + offset);
        node.textContent = pad(at.getUTCHours()) + ":" + pad(at.getUTCMinutes()) + ":" + pad(at.getUTCSeconds());
      }
      tick();
      setInterval(tick, 1000);
    });
    return skews.length ? skews[0] : 0;
  }

  // --- Scan or typing ------------------------------------------------------------

  // Watches one input and says whether what it holds arrived as a scanner's burst.
  function ScanWatcher(input) {
    var watcher = this;
    this.input = input;
    this.reset();
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        watcher.enterAt = event.timeStamp;
      } else if (event.key && event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
        if (!watcher.times.length && input.value) watcher.tainted = true; // added to what was typed
        watcher.times.push(event.timeStamp);
      } else if (event.key !== "Shift" && event.key !== "CapsLock") {
        watcher.tainted = true; // Backspace, arrows, shortcuts: a person editing
      }
    });
    input.addEventListener("input", function (event) {
      // Paste, drop, autofill, dictation: not keystrokes at all.
      if (event.inputType && event.inputType !== "insertText") watcher.tainted = true;
      if (!input.value) watcher.reset();
    });
  }

  ScanWatcher.prototype.reset = function () {
    this.times = [];
    this.enterAt = null;
    this.tainted = false;
  };

  // Whether ``value`` (the box's content as submitted) came from a scanner.
  ScanWatcher.prototype.wasScan = function (value) {
    var times = this.times;
    if (this.tainted || times.length < SCAN_MIN_CHARS || times.length !== value.length) return false;
    for (var i = 1; i < times.length; i++) {
      if (times[i] - times[i - 1] > SCAN_MAX_GAP_MS) return false;
    }
    return this.enterAt !== null && this.enterAt - times[times.length - 1] <= SCAN_ENTER_GAP_MS;
  };

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
    var pending = this.queue.list(PENDING, this.rollcall).filter(function (r) { return r.inmate === booking; });
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
    this.queue.drain(this.rollcall).then(function (waiting) {
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
    if (this.queue.sending || this.queue.list(PENDING, this.rollcall).length || document.hidden) return;
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
    var refused = this.queue.list(REFUSED, this.rollcall);
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
    var pending = queue.list(PENDING, this.rollcall).length;
    var net = document.getElementById("net-state");
    if (net) {
      net.dataset.state = queue.network;
      net.querySelector(".label").textContent =
        queue.network === "offline" ? S.offline : queue.network === "sending" ? S.sending : S.online;
    }
    renderPending(document.getElementById("pending"), pending, true);
    show(
      document.getElementById("sync-problem"),
      queue.network === "trouble" ? queue.problem : queue.storageProblem
    );
    var button = document.getElementById("submit-button");
    if (button) button.classList.toggle("blocked", pending > 0 && queue.network !== "online");
    var note = document.getElementById("submit-note");
    if (note && !this.submitting && !this.confirmLeft) {
      show(note, pending > 0 && queue.network === "offline" ? S.cannot_submit : "");
    }
  };

  function setText(id, value) {
    var node = document.getElementById(id);
    if (node) node.textContent = String(value);
  }

  function renderPending(node, count, always) {
    if (!node) return;
    node.dataset.count = String(count);
    node.classList.toggle("waiting", count > 0);
    show(node, count > 0 ? sayCount(S.pending, count) : always ? S.all_sent : "");
  }

  // --- The board: sends what this tablet still holds for any count -----------

  function startBoard(root, queue) {
    queue.onChange(function () {
      renderPending(document.getElementById("pending"), queue.list(PENDING).length, false);
      renderRefusedElsewhere(root, queue.list(REFUSED));
    });
  }

  // Refused marks are shown on their count's page: link to each such count.
  function renderRefusedElsewhere(root, refused) {
    var box = document.getElementById("refused-elsewhere");
    var list = document.getElementById("refused-counts");
    if (!box || !list) return;
    var counts = Array.from(new Set(refused.map(function (r) { return r.rollcall; })));
    list.replaceChildren.apply(list, counts.map(function (rollcall) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.className = "btn";
      link.href = root.dataset.pageUrlTemplate.replace("00000000-0000-0000-0000-000000000000", rollcall);
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

  // Keeps the count pages openable offline (counts-sw.js). Needs a secure
  // context (HTTPS, or localhost); elsewhere the marks queue still works.
  function registerServiceWorker(root) {
    if (!root.dataset.serviceWorker || !("serviceWorker" in navigator)) return;
    navigator.serviceWorker
      .register(root.dataset.serviceWorker, { scope: root.dataset.serviceWorkerScope })
      .catch(function () { /* not available here: pages need the network */ });
  }

  function boot() {
    var skew = startClocks();
    var root = document.querySelector("[data-count-app]");
    if (!root) return;
    registerServiceWorker(root);
    S = readStrings();
    var screenRoot = document.getElementById("count-screen");
    if (screenRoot && screenRoot.dataset.mayMark === "1") clockWarning(skew);
    openDatabase().then(
      function (db) { return new IndexedStore(db); },
      function () { return new MemoryStore(); }
    ).then(function (store) {
      var queue = new MarkQueue(store, root.dataset.entriesUrlTemplate, root.dataset.user);
      queue.onChange(function () {
        show(document.getElementById("others-waiting"),
          queue.othersWaiting ? sayCount(S.others_waiting, queue.othersWaiting) : "");
      });
      if (store instanceof MemoryStore) queue.storageProblem = S.no_storage;
      if (screenRoot) new CountScreen(screenRoot, queue).start();
      else startBoard(root, queue);
      queue.watchNetwork();
      return queue.load().then(function () { return queue.flush(); });
    });
  }

  // For the browser test: the id maker without crypto.randomUUID.
  window.CustodyCounts = { makeId: makeId, isoWithOffset: isoWithOffset };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
