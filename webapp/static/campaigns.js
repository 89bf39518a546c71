// 活动管理: swap the standards table when the programme changes, and follow a running
// launch. The pages work without this file (a switch button, a refresh link).
(function () {
  "use strict";

  function standards() {
    var select = document.querySelector("[data-programme-select]");
    if (!select) return;
    var sets = document.querySelectorAll("fieldset[data-programme]");
    var switches = document.querySelectorAll("[data-switch]");
    for (var i = 0; i < switches.length; i++) switches[i].hidden = true;
    function show() {
      for (var j = 0; j < sets.length; j++) {
        var on = sets[j].getAttribute("data-programme") === select.value;
        sets[j].hidden = !on;
        sets[j].disabled = !on;
      }
    }
    select.addEventListener("change", show);
  }

  function progress() {
    var box = document.querySelector("[data-launch-url]");
    if (!box || box.getAttribute("data-status") !== "running") return;
    var url = box.getAttribute("data-launch-url");
    function set(name, value) {
      var node = box.querySelector('[data-field="' + name + '"]');
      if (node) node.textContent = value;
    }
    function poll() {
      var request = new XMLHttpRequest();
      request.open("GET", url);
      request.setRequestHeader("Accept", "application/json");
      request.onload = function () {
        var launch = null;
        if (request.status === 200) {
          try { launch = JSON.parse(request.responseText).launch; } catch (e) { launch = null; }
        }
        if (!launch) { window.setTimeout(poll, 3000); return; }
        set("status_label", launch.status_label);
        set("total", launch.total);
        set("created", launch.created);
        set("skipped", launch.skipped);
        set("failed", launch.failed);
        set("message", launch.message);
        var bar = box.querySelector('[data-field="progress"]');
        if (bar) {
          bar.max = launch.total || 1;
          bar.value = launch.total ? launch.processed : 0;
          bar.textContent = launch.processed + " / " + launch.total;
        }
        if (launch.status === "running") {
          window.setTimeout(poll, 1500);
        } else {
          window.location.reload();
        }
      };
      request.onerror = function () { window.setTimeout(poll, 3000); };
      request.send();
    }
    window.setTimeout(poll, 1500);
  }

  standards();
  progress();
})();
