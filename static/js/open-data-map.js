// Open data map: Leaflet is loaded (by app.js) only when someone asks for the map; the list on the page has every
// report, so the page works without JavaScript, without the map and without map tiles.
(() => {
  "use strict";
  const button = document.getElementById("od-show-map");
  const box = document.getElementById("od-map");
  const status = document.getElementById("od-map-status");
  if (!button || !box || !window.CitizenGrid) return;
  let map = null;
  let layer = null;

  function source() {
    const holder = document.querySelector("#od-results [data-map-source]");
    return holder ? holder.dataset.mapSource : null;
  }

  async function draw() {
    const url = source();
    if (!url || !map) return;
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      const data = await response.json();
      const L = window.L;
      if (layer) layer.remove();
      layer = L.geoJSON(data, {
        pointToLayer: (feature, latlng) => {
          const open = feature.properties.status !== "closed";
          return L.circleMarker(latlng, {
            radius: feature.properties.coarsened ? 10 : 6,
            color: open ? "#b3261e" : "#1b6b2f",
            weight: 2,
            fillOpacity: 0.5,
          });
        },
        onEachFeature: (feature, marker) => {
          const link = document.createElement("a");
          link.href = feature.properties.url;
          link.textContent = `${box.dataset.open} #${feature.properties.id}`;
          marker.bindPopup(link);
        },
      }).addTo(map);
      const n = data.features.length;
      status.textContent = box.dataset.shown.replace("{n}", n) + (box.dataset.tiles ? "" : ` ${box.dataset.noTiles}`);
      if (n) map.fitBounds(layer.getBounds(), { maxZoom: 16, padding: [20, 20] });
    } catch {
      status.textContent = box.dataset.failed;
    }
  }

  button.addEventListener("click", async () => {
    box.hidden = false;
    button.disabled = true;
    status.textContent = box.dataset.loading;
    let L;
    try {
      L = await window.CitizenGrid.loadLeaflet(box);
    } catch {
      status.textContent = box.dataset.failed;
      return;
    }
    const center = box.dataset.center.split(",").map(Number);
    map = L.map(box).setView(center, 13);
    if (box.dataset.tiles) {
      L.tileLayer(box.dataset.tiles, { maxZoom: 19, attribution: box.dataset.attribution }).addTo(map);
    }
    draw();
  });
  // New filters (an htmx swap of the list) redraw the dots.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.target && event.target.id === "od-results") draw();
  });
})();
