// jq console: live refresh (pausable) and selection counts. Everything works without this
// file; it only saves reloading by hand. No library: about a hundred lines.
(function () {
  "use strict";

  var KEY = "jq-console-paused";
  var main = document.getElementById("main");
  var toggle = document.getElementById("live-toggle");
  var updated = document.getElementById("updated");

  function paused() { return localStorage.getItem(KEY) === "1"; }

  function showPaused() {
    if (!toggle) { return; }
    var p = paused();
    toggle.setAttribute("aria-pressed", p ? "true" : "false");
    toggle.textContent = p ? "Resume refresh" : "Pause refresh";
    if (updated) { updated.textContent = p ? "refresh paused" : "refreshes every " + main.dataset.live + " s"; }
  }

  // busy: the operator is in the middle of something the refresh would throw away.
  function busy() {
    var a = document.activeElement;
    if (a && main.contains(a) && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName)) { return true; }
    if (main.querySelector("input[name=id]:checked")) { return true; }
    // A folded payload node, the raw payload unfolded, or a queue's limits form open: the
    // operator is looking at it.
    return main.querySelector(".json details:not([open]), details.raw[open], details.limits[open]") !== null;
  }

  function refresh() {
    if (paused() || document.hidden || busy()) { return; }
    fetch(location.href, { credentials: "same-origin" })
      .then(function (resp) {
        if (resp.redirected || !resp.ok) { return null; } // signed out or failing: leave the page as it is
        return resp.text();
      })
      .then(function (html) {
        if (!html || busy()) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        if (!fresh) { return; }
        var flash = main.querySelector(".flash");
        main.innerHTML = fresh.innerHTML;
        if (flash && !main.querySelector(".flash")) { main.insertBefore(flash, main.firstChild); }
        wire();
        if (updated) { updated.textContent = "updated " + new Date().toLocaleTimeString(); }
      })
      .catch(function () { /* offline for a moment: the next tick tries again */ });
  }

  // wire connects the controls of the main section (again after each refresh).
  function wire() {
    var all = main.querySelector("[data-select-all]");
    var boxes = main.querySelectorAll("input[name=id]");
    var counter = main.querySelector("[data-selected-count]");
    function count() {
      var n = main.querySelectorAll("input[name=id]:checked").length;
      if (counter) { counter.textContent = n ? "(" + n + ")" : ""; }
      if (all) { all.checked = n > 0 && n === boxes.length; all.indeterminate = n > 0 && n < boxes.length; }
    }
    if (all) {
      all.addEventListener("change", function () {
        boxes.forEach(function (b) { b.checked = all.checked; });
        count();
      });
    }
    boxes.forEach(function (b) { b.addEventListener("change", count); });
    count();
  }

  if (!main) { return; }
  wire();
  if (!main.dataset.live) { return; }
  if (toggle) {
    toggle.addEventListener("click", function () {
      localStorage.setItem(KEY, paused() ? "0" : "1");
      showPaused();
      if (!paused()) { refresh(); }
    });
  }
  showPaused();
  setInterval(refresh, Number(main.dataset.live) * 1000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
})();
