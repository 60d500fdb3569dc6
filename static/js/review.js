/* Reviewer workspace keys: j / k move through the queue, Enter opens (native); on a case page the letter shown
   next to a button (a, r, c, w, n) presses it. Keys are ignored while typing in a field. */
(() => {
  "use strict";
  const typing = (event) => {
    const tag = event.target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || event.target.isContentEditable;
  };
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
    const links = Array.from(document.querySelectorAll("[data-case-link]"));
    if ((event.key === "j" || event.key === "k") && links.length) {
      const index = links.indexOf(document.activeElement);
      const next = event.key === "j" ? Math.min(index + 1, links.length - 1) : Math.max(index - 1, 0);
      links[index === -1 ? 0 : next].focus();
      event.preventDefault();
      return;
    }
    const target = document.querySelector(`[data-hotkey="${event.key}"]`);
    if (target) {
      event.preventDefault();
      target.click();
    }
  });
})();
