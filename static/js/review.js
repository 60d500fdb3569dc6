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

/* The case's place on a small map beside the photos, at desk width only (a phone keeps the "open in a map app"
   link). Leaflet is loaded by app.js; without a map service the pin stands on a plain background. */
(() => {
  "use strict";
  const box = document.getElementById("case-map");
  if (!box || !window.CitizenGrid || !window.matchMedia("(min-width: 64rem)").matches) return;
  box.hidden = false;
  window.CitizenGrid.loadLeaflet(box).then((L) => {
    const here = [Number(box.dataset.lat), Number(box.dataset.lon)];
    const map = L.map(box, { scrollWheelZoom: false }).setView(here, 17);
    if (box.dataset.tiles) {
      L.tileLayer(box.dataset.tiles, { maxZoom: 19, attribution: box.dataset.attribution }).addTo(map);
    }
    L.marker(here, { keyboard: false }).addTo(map);
  }).catch(() => { box.hidden = true; });
})();
