/* Service worker of the tablet count pages (scope /counts/).
 *
 * Why: a guard's tablet loses Wi-Fi in the middle of a unit. The marks are
 * already safe in IndexedDB (queue.js); this keeps the pages themselves
 * openable without a network, so a reload, a crashed tab or a tablet that
 * went to sleep does not leave the guard in front of a browser error.
 *
 * - Count pages (/counts/...): network first. A copy is kept only of a page
 *   the server marked with X-Offline-For (seconds left of the sign-in that
 *   showed it, custody/pages/offline.py), and served offline only until
 *   then: the pages hold people's names, and must not outlive the session.
 * - A count page answered by a redirect (to sign in) means the session is
 *   gone: every kept page is dropped at once.
 * - Static files (/static/...): the cached copy, refreshed in the background.
 * - The API is never cached: a mark must reach the server or stay queued.
 * Signing out drops the copies too: every sign-out (pages and admin) lands on
 * the sign-in page, whose forget-offline-pages.js deletes them; a "forget"
 * message to this worker does the same.
 */
"use strict";

var CACHE = "custody-counts-v3";
var OFFLINE_FOR = "X-Offline-For";
var OFFLINE_UNTIL = "X-Offline-Until";

self.addEventListener("install", function () {
  self.skipWaiting();
});

function forgetPages(keepName) {
  return caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("custody-counts-") === 0 && name !== keepName;
    }).map(function (name) { return caches.delete(name); }));
  });
}

self.addEventListener("activate", function (event) {
  // Copies kept by an older version go: v1 kept them with no expiry; v2's
  // counts.js predates queue.js and would send recount marks as count marks.
  event.waitUntil(forgetPages(CACHE).then(function () { return self.clients.claim(); }));
});

self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "forget") event.waitUntil(forgetPages());
});

// The page as kept: its own headers plus the moment, by this tablet's clock,
// after which it is not shown offline any more.
function keep(request, response) {
  var seconds = parseInt(response.headers.get(OFFLINE_FOR), 10);
  if (!(seconds > 0)) {
    return caches.open(CACHE).then(function (cache) { return cache.delete(request); });
  }
  return response.clone().blob().then(function (body) {
    var headers = new Headers(response.headers);
    headers.set(OFFLINE_UNTIL, String(Date.now() + seconds * 1000));
    var copy = new Response(body, {
      status: response.status, statusText: response.statusText, headers: headers
    });
    return caches.open(CACHE).then(function (cache) { return cache.put(request, copy); });
  });
}

function stillValid(cached) {
  var until = parseInt(cached.headers.get(OFFLINE_UNTIL), 10);
  return until > Date.now();
}

function keptCopy(request) {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(request, { ignoreVary: true }).then(function (cached) {
      if (cached && stillValid(cached)) return cached;
      if (cached) cache.delete(request);  // the sign-in it belonged to is over
      return Response.error();
    });
  });
}

function networkFirst(event) {
  var request = event.request;
  return fetch(request).then(function (response) {
    if (response.redirected || response.type === "opaqueredirect") {
      // Sent to sign in: no page of the old session stays on this tablet.
      event.waitUntil(forgetPages());
    } else if (response.ok && response.type === "basic") {
      event.waitUntil(keep(request, response));
    }
    return response;
  }).catch(function () {
    return keptCopy(request);
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
    event.respondWith(networkFirst(event));
  }
});
