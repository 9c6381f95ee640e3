// The queue of marks a tablet makes offline first, shared by the count
// screen (counts.js) and the verifier's recount page (recount.js); served
// from here, never a CDN.
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
//
// A mark is of a count (``kind`` "count", or none: marks queued before
// recounts existed), of a recount ("recount") or a round check ("round",
// rounds.js, its item in ``payload``); each kind goes to its own
// endpoint, one kind and one count per batch, so every page that holds the
// queue sends whatever the tablet still keeps.
(function () {
  "use strict";

  var DB_NAME = "custody-counts";
  var STORE = "marks";
  var BATCH_SIZE = 200;
  var REQUEST_TIMEOUT_MS = 10000;
  var MAX_BACKOFF_MS = 30000;
  var PENDING = "pending";
  var REFUSED = "refused";
  var NIL_UUID = "00000000-0000-0000-0000-000000000000";

  function kindOf(record) {
    return record.kind || "count";
  }

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

  // What the page says, translated by the server (a JSON script element).
  // The queue's own sentences are read from the same object.
  var S = {};

  function readStrings() {
    var node = document.getElementById("count-strings");
    S = node ? JSON.parse(node.textContent) : {};
    return S;
  }

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
  // ``urlTemplates``: kind -> endpoint with the nil UUID for the count's id.
  function MarkQueue(store, urlTemplates, user) {
    this.store = store;
    this.user = user;
    this.othersWaiting = 0;
    this.urlTemplates = urlTemplates;
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

  // The marks in ``state``, oldest first; of one count and one kind if given.
  MarkQueue.prototype.list = function (state, rollcall, kind) {
    var found = [];
    this.records.forEach(function (record) {
      if (record.state === state && (!rollcall || record.rollcall === rollcall) &&
          (!kind || kindOf(record) === kind)) found.push(record);
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
      if (succeeded && queue.nextBatch().length) queue.flush();
      return succeeded;
    });
    return this.sending;
  };

  // Flushes until nothing of ``rollcall`` (of ``kind``) is left or a round
  // fails; resolves with how many of its marks still wait.
  MarkQueue.prototype.drain = function (rollcall, kind) {
    var queue = this;
    return this.flush().then(function (succeeded) {
      var left = queue.list(PENDING, rollcall, kind).length;
      return succeeded && left ? queue.drain(rollcall, kind) : left;
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

  // The oldest pending marks of one count and one kind (one endpoint).
  MarkQueue.prototype.nextBatch = function () {
    var templates = this.urlTemplates;
    var pending = this.list(PENDING).filter(function (r) { return templates[kindOf(r)]; });
    if (!pending.length) return [];
    var rollcall = pending[0].rollcall;
    var kind = kindOf(pending[0]);
    return pending.filter(function (r) {
      return r.rollcall === rollcall && kindOf(r) === kind;
    }).slice(0, BATCH_SIZE);
  };

  MarkQueue.prototype.post = function (batch) {
    var url = this.urlTemplates[kindOf(batch[0])].replace(NIL_UUID, batch[0].rollcall);
    var body = batch.map(function (r) {
      // A round check (rounds.js) carries its own item: tag, scan time, people.
      if (r.payload) return Object.assign({ id: r.id }, r.payload);
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

  // --- What both pages show -----------------------------------------------------

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

  // The sync indicator of a page that marks: the network, what of
  // ``rollcall``'s ``kind`` still waits, and why the last send failed.
  function renderSync(queue, rollcall, kind) {
    var pending = queue.list(PENDING, rollcall, kind).length;
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
    return pending;
  }

  // --- Start ------------------------------------------------------------------

  // Keeps the count pages openable offline (counts-sw.js). Needs a secure
  // context (HTTPS, or localhost); elsewhere the marks queue still works.
  function registerServiceWorker(root) {
    if (!root.dataset.serviceWorker || !("serviceWorker" in navigator)) return;
    navigator.serviceWorker
      .register(root.dataset.serviceWorker, { scope: root.dataset.serviceWorkerScope })
      .catch(function () { /* not available here: pages need the network */ });
  }

  // The page's queue, over IndexedDB where the browser has it. ``root``
  // carries the endpoints of both kinds and the signed-in user. The caller
  // attaches its screen, then calls ``run``: the stored marks are read, the
  // network watched and whatever waits sent.
  function openQueue(root) {
    registerServiceWorker(root);
    readStrings();
    return openDatabase().then(
      function (db) { return new IndexedStore(db); },
      function () { return new MemoryStore(); }
    ).then(function (store) {
      var queue = new MarkQueue(store, {
        count: root.dataset.entriesUrlTemplate,
        recount: root.dataset.recountEntriesUrlTemplate,
        round: root.dataset.roundsUrl,
      }, root.dataset.user);
      queue.onChange(function () {
        show(document.getElementById("others-waiting"),
          queue.othersWaiting ? sayCount(S.others_waiting, queue.othersWaiting) : "");
      });
      if (store instanceof MemoryStore) queue.storageProblem = S.no_storage;
      return queue;
    });
  }

  MarkQueue.prototype.run = function () {
    var queue = this;
    this.watchNetwork();
    return this.load().then(function () { return queue.flush(); });
  };

  // A mark made now on this tablet: its own id and the tap's time.
  function newMark(fields) {
    return Object.assign({
      id: makeId(),
      observed_at: isoWithOffset(new Date()),
      state: PENDING,
    }, fields);
  }

  // --- The facility clock (the count and rounds screens) ------------------------

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

  // --- Scan or typing (the count and rounds screens) ---------------------------

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

  window.CustodyQueue = {
    PENDING: PENDING,
    REFUSED: REFUSED,
    NIL_UUID: NIL_UUID,
    strings: function () { return S; },
    pad: pad,
    makeId: makeId,
    isoWithOffset: isoWithOffset,
    newMark: newMark,
    say: say,
    sayCount: sayCount,
    show: show,
    send: send,
    detailOf: detailOf,
    setText: setText,
    renderPending: renderPending,
    renderSync: renderSync,
    openQueue: openQueue,
    ScanWatcher: ScanWatcher,
    startClocks: startClocks,
  };
})();
