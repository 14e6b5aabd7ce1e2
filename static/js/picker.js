// The template picker's keyboard and copy buttons. No inline script: this file is loaded with defer.
// ↑ ↓ move through the results, Enter previews (the link's own click: htmx loads the pane), Esc closes the pane.
(function () {
  "use strict";

  function picks() {
    return Array.prototype.slice.call(document.querySelectorAll("#results a.pick"));
  }

  function closePreview() {
    var pane = document.getElementById("picker-preview");
    if (!pane) return;
    pane.innerHTML = '<p class="muted empty-inline">Select a draft to preview it (↑ ↓ to move, Enter to preview, Esc to close).</p>';
    var current = document.querySelector("#results tr.is-current a.pick") || picks()[0];
    if (current) current.focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      if (document.querySelector("#picker-preview .picker-preview-head")) {
        event.preventDefault();
        closePreview();
      }
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    var target = event.target;
    var inResults = target.closest && target.closest("#results");
    var inSearch = target.matches && target.matches("input[name=q]");
    if (!inResults && !inSearch) return;
    var links = picks();
    if (!links.length) return;
    event.preventDefault();
    var index = links.indexOf(target);
    if (inSearch) index = event.key === "ArrowDown" ? 0 : links.length - 1;
    else index = Math.max(0, Math.min(links.length - 1, index + (event.key === "ArrowDown" ? 1 : -1)));
    links[index].focus();
  });

  document.addEventListener("focusin", function (event) {
    if (!event.target.matches || !event.target.matches("#results a.pick")) return;
    document.querySelectorAll("#results tr.is-current").forEach(function (row) { row.classList.remove("is-current"); });
    event.target.closest("tr").classList.add("is-current");
  });

  document.addEventListener("click", function (event) {
    var close = event.target.closest && event.target.closest("[data-close-preview]");
    if (close && window.htmx) {
      event.preventDefault();
      closePreview();
      return;
    }
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    var status = button.parentNode.querySelector(".copy-status");
    function fallback() {
      field.focus();
      field.select();
      if (status) status.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
    }
    if (!navigator.clipboard || !window.isSecureContext) return fallback();
    navigator.clipboard.writeText(field.value).then(function () {
      if (status) status.textContent = "Copied.";
    }, fallback);
  });

  // Copy buttons need this script: show them only when it runs (the text field stays for everyone).
  function showCopyButtons() {
    document.querySelectorAll("[data-copy][hidden]").forEach(function (button) { button.hidden = false; });
  }
  document.addEventListener("htmx:afterSettle", showCopyButtons);
  showCopyButtons();
})();
