// 退回修改 and 不予通过 ask first, naming the case and what follows (data-confirm, written
// by the server). With the comment still empty the server's own message comes first.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("button[data-confirm]"), function (button) {
    button.addEventListener("click", function (event) {
      var comment = button.form ? button.form.querySelector("textarea[name=comment]") : null;
      if (comment && !comment.value.trim()) return;
      if (!window.confirm(button.dataset.confirm)) event.preventDefault();
    });
  });
})();
