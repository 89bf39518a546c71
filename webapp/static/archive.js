// 档案导入: follow a running import's progress; the page works without this file (a
// refresh link).
(function () {
  "use strict";
  var box = document.querySelector("[data-import-url]");
  if (!box || box.getAttribute("data-status") !== "running") return;
  var url = box.getAttribute("data-import-url");
  function set(name, value) {
    var node = box.querySelector('[data-field="' + name + '"]');
    if (node) node.textContent = value;
  }
  function poll() {
    var request = new XMLHttpRequest();
    request.open("GET", url);
    request.setRequestHeader("Accept", "application/json");
    request.onload = function () {
      var row = null;
      if (request.status === 200) {
        try { row = JSON.parse(request.responseText); } catch (e) { row = null; }
      }
      if (!row) { window.setTimeout(poll, 3000); return; }
      set("processed", row.processed);
      set("imported", row.imported);
      set("skipped", row.skipped);
      var bar = box.querySelector('[data-field="progress"]');
      if (bar) {
        bar.max = row.total || 1;
        bar.value = row.processed;
        bar.textContent = row.processed + " / " + row.total;
      }
      if (row.status === "running" && !row.message) {
        window.setTimeout(poll, 1000);
      } else {
        window.location.reload();
      }
    };
    request.onerror = function () { window.setTimeout(poll, 3000); };
    request.send();
  }
  window.setTimeout(poll, 800);
})();
