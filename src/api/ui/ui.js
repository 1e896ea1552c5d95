// simscore job pages: live status and progress over server-sent events. No framework.
// The job list follows every unfinished job on the page through one stream (/ui/events?jobs=…);
// a job page follows its job (/ui/jobs/{id}/events) and reloads itself when the job ends, to show
// the result, plots and artifacts. document.body.dataset.sseEvents counts the events applied.
(function () {
  "use strict";
  var TERMINAL = { succeeded: true, failed: true, cancelled: true };
  var KINDS = ["status", "progress", "log"];

  function count() {
    var body = document.body;
    body.dataset.sseEvents = String((parseInt(body.dataset.sseEvents || "0", 10) || 0) + 1);
  }

  function field(root, name) {
    return root.querySelector('[data-field="' + name + '"]');
  }

  // Applies one event to the element that shows its job (a table row or the job page).
  function apply(root, kind, payload) {
    var data = payload.data || {};
    if (kind === "status" && data.status) {
      root.dataset.status = data.status;
      var badge = field(root, "status");
      if (badge) {
        badge.textContent = data.status;
        badge.className = "status status-" + data.status;
      }
      if (data.status === "succeeded") setProgress(root, 1, null);
    } else if (kind === "progress" && typeof data.progress === "number") {
      setProgress(root, data.progress, data.message);
    } else if (kind === "log") {
      var log = field(root, "log");
      if (log) {
        var li = document.createElement("li");
        var time = document.createElement("time");
        time.textContent = (payload.time || "").slice(11, 19);
        li.appendChild(time);
        li.appendChild(document.createTextNode(" " + (data.message || JSON.stringify(data))));
        log.appendChild(li);
        var empty = document.querySelector(".log-empty");
        if (empty) empty.remove();
      }
    }
    count();
  }

  function setProgress(root, value, message) {
    var bar = field(root, "progress");
    if (bar) bar.value = value;
    var pct = field(root, "percent");
    if (pct) pct.textContent = Math.round(value * 100) + "%";
    var msg = field(root, "message");
    if (msg && message != null) msg.textContent = message;
  }

  function listen(url, onEvent) {
    if (!window.EventSource) return null;
    var source = new EventSource(url);
    KINDS.forEach(function (kind) {
      source.addEventListener(kind, function (e) {
        var payload;
        try { payload = JSON.parse(e.data); } catch (err) { return; }
        onEvent(kind, payload);
      });
    });
    // The server ends the stream when every followed job has finished; don't reconnect.
    source.addEventListener("end", function () { source.close(); });
    return source;
  }

  function followList() {
    var rows = {};
    var ids = [];
    document.querySelectorAll("tr[data-job-id]").forEach(function (row) {
      if (!TERMINAL[row.dataset.status]) {
        rows[row.dataset.jobId] = row;
        ids.push(row.dataset.jobId);
      }
    });
    if (!ids.length) return;
    listen("/ui/events?jobs=" + ids.map(encodeURIComponent).join(","), function (kind, payload) {
      var row = rows[payload.job];
      if (row) apply(row, kind, payload);
    });
  }

  function followJob(page) {
    var id = page.dataset.jobPage;
    if (TERMINAL[page.dataset.status]) return;
    var source = listen("/ui/jobs/" + encodeURIComponent(id) + "/events", function (kind, payload) {
      apply(page, kind, payload);
      if (kind === "status" && TERMINAL[payload.data.status]) {
        source.close();
        // Show the result, plots and artifacts.
        window.setTimeout(function () { window.location.reload(); }, 400);
      }
    });
  }

  function start() {
    var page = document.querySelector("[data-job-page]");
    if (page) followJob(page);
    else followList();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
