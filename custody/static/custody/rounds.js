// The rounds screen (custody/pages/rounds.py): open a cell, scan its tag,
// tap each person's state, save. A saved check goes into the tablet's
// queue (queue.js, kind "round") at once and is sent to the round API
// when the network allows; its id makes a resend harmless.
(function () {
  "use strict";

  var Q = window.CustodyQueue;
  var ROUNDS = "rounds"; // the queue groups a batch by this; one endpoint for all
  var KIND = "round";

  function cellOf(node) { return node.closest(".round-cell"); }

  function toggle(cell, open) {
    var body = cell.querySelector(".cell-body");
    var button = cell.querySelector(".cell-open");
    body.hidden = !open;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) cell.querySelector(".tag-input").focus();
  }

  function openOnly(cell) {
    document.querySelectorAll(".round-cell").forEach(function (other) {
      toggle(other, other === cell && cell.querySelector(".cell-body").hidden);
    });
  }

  // The scan is the proof of presence: its time is the moment the tag was read.
  function tagRead(cell) {
    var input = cell.querySelector(".tag-input");
    var uid = input.value.trim();
    if (!uid) return;
    // Only a reader's burst is a scan: a typed or pasted code proves nobody
    // stood at the cell (a photo or a list of codes would do), so it is refused.
    if (!input.scanWatcher.wasScan(input.value)) {
      input.value = "";
      input.scanWatcher.reset();
      note(Q.strings().typed_tag, true);
      return;
    }
    note("", false);
    cell.dataset.tag = uid;
    cell.dataset.scannedAt = Q.isoWithOffset(new Date());
    Q.show(cell.querySelector("[data-role=tag-read]"), Q.strings().tag_read || "✓");
    var first = cell.querySelector(".states input:checked") || cell.querySelector(".save-check");
    if (first) first.focus();
  }

  function note(text, isError) {
    var node = document.getElementById("round-note");
    node.classList.toggle("flash-error", !!isError);
    Q.show(node, text);
  }

  function observations(cell) {
    return Array.prototype.map.call(cell.querySelectorAll(".occupant"), function (row) {
      var checked = row.querySelector(".states input:checked");
      return { inmate: row.dataset.booking, state: checked ? checked.value : "seen_alive" };
    });
  }

  function save(queue, cell) {
    var S = Q.strings();
    if (!cell.dataset.tag) {
      tagRead(cell);
      if (!cell.dataset.tag) {
        note(S.scan_first, true);
        cell.querySelector(".tag-input").focus();
        return;
      }
    }
    var record = Q.newMark({
      kind: KIND,
      rollcall: ROUNDS,
      cell: cell.dataset.cell,
      observed_at: cell.dataset.scannedAt,
      payload: {
        tag: cell.dataset.tag,
        scanned_at: cell.dataset.scannedAt,
        observations: observations(cell),
      },
    });
    queue.add(record);
    // Ready for the next round of this cell: the tag must be scanned again.
    delete cell.dataset.tag;
    delete cell.dataset.scannedAt;
    cell.querySelector(".tag-input").value = "";
    Q.show(cell.querySelector("[data-role=tag-read]"), "");
    cell.querySelectorAll(".states input[value=seen_alive]").forEach(function (i) { i.checked = true; });
    toggle(cell, false);
    note(Q.say(S.saved, { cell: cell.dataset.cell }));
  }

  function renderRefused(queue) {
    var S = Q.strings();
    var list = document.getElementById("round-refused");
    var refused = queue.list(Q.REFUSED, ROUNDS, KIND);
    list.textContent = "";
    refused.forEach(function (record) {
      var item = document.createElement("li");
      item.className = "error";
      item.dataset.cell = record.cell;
      var detail = Object.keys(record.errors || {}).map(function (key) {
        return [].concat(record.errors[key]).join(" ");
      }).join(" ");
      item.appendChild(document.createTextNode(Q.say(S.refused, { cell: record.cell, detail: detail }) + " "));
      var dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "btn";
      dismiss.textContent = S.dismiss;
      dismiss.addEventListener("click", function () { queue.dismiss(record.id); });
      item.appendChild(dismiss);
      list.appendChild(item);
    });
    document.getElementById("round-refused-box").hidden = !refused.length;
  }

  function render(queue, acked) {
    Q.renderSync(queue, ROUNDS, KIND);
    var waiting = {};
    queue.list(Q.PENDING, ROUNDS, KIND).forEach(function (r) { waiting[r.cell] = true; });
    document.querySelectorAll(".round-cell").forEach(function (cell) {
      cell.classList.toggle("unsent", !!waiting[cell.dataset.cell]);
    });
    (acked || []).forEach(function (record) {
      var cell = document.getElementById("cell-" + record.cell);
      if (!cell) return;
      cell.classList.add("checked");
      cell.querySelector("[data-role=sent]").hidden = false;
    });
    renderRefused(queue);
  }

  function start() {
    var root = document.querySelector("[data-rounds-app]");
    if (!root) return;
    Q.startClocks();
    Q.openQueue(root).then(function (queue) {
      document.getElementById("sync").hidden = false;
      queue.onChange(render);
      document.getElementById("cells").addEventListener("click", function (event) {
        var opener = event.target.closest(".cell-open");
        if (opener) openOnly(cellOf(opener));
        var saver = event.target.closest(".save-check");
        if (saver) save(queue, cellOf(saver));
      });
      document.querySelectorAll(".tag-input").forEach(function (input) {
        input.scanWatcher = new Q.ScanWatcher(input);
      });
      // A reader types the uid and Enter: the form's submit is the scan.
      document.querySelectorAll(".tag-form").forEach(function (form) {
        form.addEventListener("submit", function (event) {
          event.preventDefault();
          tagRead(cellOf(form));
        });
      });
      window.CustodyRounds = { queue: queue };
      return queue.run();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
