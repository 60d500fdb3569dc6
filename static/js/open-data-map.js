// Open data map: Leaflet is loaded only when someone asks for the map; the list on the page has every report,
// so the page works without JavaScript, without the map and without map tiles.
(function () {
  "use strict";
  var button = document.getElementById("od-show-map");
  var box = document.getElementById("od-map");
  var status = document.getElementById("od-map-status");
  if (!button || !box) return;
  var map = null;
  var layer = null;

  function loadLeaflet(done) {
    if (window.L) return done();
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = box.dataset.leafletCss;
    document.head.appendChild(css);
    var script = document.createElement("script");
    script.src = box.dataset.leafletJs;
    script.onload = done;
    script.onerror = function () { status.textContent = box.dataset.failed; };
    document.head.appendChild(script);
  }

  function source() {
    var holder = document.querySelector("#od-results [data-map-source]");
    return holder ? holder.dataset.mapSource : null;
  }

  function draw() {
    var url = source();
    if (!url || !map) return;
    fetch(url, { credentials: "same-origin" })
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
      .then(function (data) {
        if (layer) layer.remove();
        layer = window.L.geoJSON(data, {
          pointToLayer: function (feature, latlng) {
            var open = feature.properties.status !== "closed";
            return window.L.circleMarker(latlng, {
              radius: feature.properties.coarsened ? 10 : 6,
              color: open ? "#b3261e" : "#1b6b2f",
              weight: 2,
              fillOpacity: 0.5
            });
          },
          onEachFeature: function (feature, marker) {
            var link = document.createElement("a");
            link.href = feature.properties.url;
            link.textContent = box.dataset.open + " #" + feature.properties.id;
            marker.bindPopup(link);
          }
        }).addTo(map);
        var n = data.features.length;
        status.textContent = box.dataset.shown.replace("{n}", n) + (box.dataset.tiles ? "" : " " + box.dataset.noTiles);
        if (n) map.fitBounds(layer.getBounds(), { maxZoom: 16, padding: [20, 20] });
      })
      .catch(function () { status.textContent = box.dataset.failed; });
  }

  button.addEventListener("click", function () {
    box.hidden = false;
    button.disabled = true;
    status.textContent = box.dataset.loading;
    loadLeaflet(function () {
      var center = box.dataset.center.split(",").map(Number);
      map = window.L.map(box).setView(center, 13);
      if (box.dataset.tiles) {
        window.L.tileLayer(box.dataset.tiles, { maxZoom: 19, attribution: box.dataset.attribution }).addTo(map);
      }
      draw();
    });
  });
  // New filters (an htmx swap of the list) redraw the dots.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "od-results") draw();
  });
})();
