// Admittance console: small progressive enhancements over server-rendered pages. Every page works
// without this script; with it, live regions refresh themselves, destructive actions ask first,
// countdowns tick and files can be dropped on an upload field. No third-party code.
(function () {
  "use strict";

  // <div data-live="/console/..." data-live-interval="2000">: its content is re-fetched and replaced.
  // The request says it is a background refresh, so it does not keep an idle session alive. Focus
  // (by element id) survives the replacement, so keyboard users do not lose their place.
  function startLive(element) {
    var interval = parseInt(element.getAttribute("data-live-interval") || "2000", 10);
    var busy = false;
    function refresh() {
      if (busy || document.hidden) { return; }
      busy = true;
      var url = element.getAttribute("data-live");
      fetch(url, { headers: { "X-Console-Background": "1" }, credentials: "same-origin" })
        .then(function (response) {
          if (response.status === 401) {
            window.location.assign("/console/sign-in?next=" + encodeURIComponent(window.location.pathname + window.location.search));
            return null;
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html === null || html === undefined || html === element.innerHTML) { return; }
          var focused = document.activeElement && element.contains(document.activeElement) ? document.activeElement.id : null;
          element.innerHTML = html;
          bind(element);
          if (focused) {
            var again = document.getElementById(focused);
            if (again) { again.focus(); }
          }
          element.dispatchEvent(new CustomEvent("live:updated", { bubbles: true }));
          if (element.querySelector("[data-live-stop]")) { window.clearInterval(timer); }
        })
        .catch(function () { /* offline for a moment: try again at the next tick */ })
        .finally(function () { busy = false; });
    }
    var timer = window.setInterval(refresh, interval);
  }

  // <form data-confirm="Delete this?">: asks before submitting.
  function bindConfirm(form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  }

  // <span data-countdown-until="2026-12-02T14:00:00Z" data-countdown-done="closed">: ticks each second.
  function bindCountdown(element) {
    var until = Date.parse(element.getAttribute("data-countdown-until"));
    function tick() {
      var left = Math.max(0, Math.round((until - Date.now()) / 1000));
      if (left === 0) {
        element.textContent = element.getAttribute("data-countdown-done") || "0:00";
        window.clearInterval(timer);
        return;
      }
      var minutes = Math.floor(left / 60), seconds = left % 60;
      element.textContent = minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
    }
    var timer = window.setInterval(tick, 1000);
    tick();
  }

  // <div data-dropzone> holding an <input type=file>: a file dropped on the zone goes into the input.
  function bindDropzone(zone) {
    var input = zone.querySelector("input[type=file]");
    var label = zone.querySelector("[data-dropzone-name]");
    if (!input) { return; }
    function show() {
      if (label) { label.textContent = input.files.length ? input.files[0].name : ""; }
    }
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        show();
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
    input.addEventListener("change", show);
  }

  // <select data-autosubmit> / <input data-autosubmit>: a filter form submits when changed.
  function bindAutosubmit(control) {
    control.addEventListener("change", function () { if (control.form) { control.form.requestSubmit(); } });
  }

  function each(root, selector, fn) {
    Array.prototype.forEach.call(root.querySelectorAll(selector), fn);
  }

  function bind(root) {
    each(root, "form[data-confirm]", bindConfirm);
    each(root, "[data-countdown-until]", bindCountdown);
    each(root, "[data-dropzone]", bindDropzone);
    each(root, "[data-autosubmit]", bindAutosubmit);
  }

  document.addEventListener("DOMContentLoaded", function () {
    bind(document);
    each(document, "[data-live]", startLive);
  });
})();
