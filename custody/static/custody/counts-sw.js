/* Service worker of the tablet count pages (scope /counts/).
 *
 * Why: a guard's tablet loses Wi-Fi in the middle of a unit. The marks are
 * already safe in IndexedDB (counts.js); this keeps the pages themselves
 * openable without a network, so a reload, a crashed tab or a tablet that
 * went to sleep does not leave the guard in front of a browser error.
 *
 * - Count pages (/counts/...): network first, the last copy when offline.
 * - Static files (/static/...): the cached copy, refreshed in the background.
 * - The API is never cached: a mark must reach the server or stay queued.
 * Signing out clears the cache (config/templates/registration/login.html):
 * the pages hold people's names.
 */
"use strict";

var CACHE = "custody-counts-v1";

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("custody-counts-") === 0 && name !== CACHE;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function networkFirst(request) {
  return fetch(request).then(function (response) {
    // Only whole, successful pages are kept (never a redirect to sign in).
    if (response.ok && response.type === "basic" && !response.redirected) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
    }
    return response;
  }).catch(function () {
    return caches.match(request, { ignoreVary: true }).then(function (cached) {
      return cached || Response.error();
    });
  });
}

function cacheFirst(request) {
  return caches.match(request).then(function (cached) {
    var fresh = fetch(request).then(function (response) {
      if (response.ok) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      }
      return response;
    });
    return cached || fresh;
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === "navigate" && url.pathname.indexOf("/counts/") === 0) {
    event.respondWith(networkFirst(request));
  }
});
