/* On the sign-in page: drop the count pages the tablet kept for offline use
 * (counts-sw.js), since they hold people's names. Marks not yet sent live in
 * IndexedDB, not here, and are never dropped. */
"use strict";
if (window.caches) {
  caches.keys().then(function (names) {
    names.filter(function (name) { return name.indexOf("custody-counts-") === 0; })
      .forEach(function (name) { caches.delete(name); });
  });
}
