// Images open large in a dialog on the same page (links keep working without script);
// file inputs refuse a file over the size limit before anything is sent, so nothing
// typed is lost to a refused upload.
(function () {
  "use strict";
  var dialog = document.getElementById("file-preview-dialog");
  if (dialog && typeof dialog.showModal === "function") {
    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a[data-preview=image]") : null;
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      dialog.querySelector("img").src = link.href;
      dialog.querySelector("img").alt = link.dataset.title || "";
      dialog.querySelector(".title").textContent = link.dataset.title || "";
      dialog.querySelector("a.open-new").href = link.href;
      dialog.showModal();
    });
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) dialog.close();
    });
  }

  function tooBig(input) {
    var limit = parseInt(input.dataset.maxBytes, 10);
    var problems = [];
    Array.prototype.forEach.call(input.files || [], function (file) {
      if (limit && file.size > limit) {
        problems.push(
          (input.dataset.tooBig || "{name} {size} MB")
            .replace("{name}", file.name)
            .replace("{size}", (file.size / 1024 / 1024).toFixed(1))
        );
      }
    });
    return problems.join("；");
  }

  function show(input, message) {
    var note = input.parentNode.querySelector(".size-error");
    if (!note) {
      note = document.createElement("span");
      note.className = "field-error size-error";
      note.setAttribute("role", "alert");
      input.insertAdjacentElement("afterend", note);
    }
    note.textContent = message;
    note.hidden = !message;
  }

  var inputs = document.querySelectorAll("input[type=file][data-max-bytes]");
  Array.prototype.forEach.call(inputs, function (input) {
    input.addEventListener("change", function () {
      // The refused file is taken out again, so the form can still be sent without it.
      var message = tooBig(input);
      show(input, message);
      if (message) input.value = "";
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
    form.addEventListener("submit", function (event) {
      Array.prototype.forEach.call(form.querySelectorAll("input[type=file][data-max-bytes]"), function (input) {
        var message = tooBig(input);
        if (message) {
          show(input, message);
          event.preventDefault();
        }
      });
    });
  });
})();
