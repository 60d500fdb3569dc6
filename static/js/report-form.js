/* Report form enhancements: position from the phone, a pin on a lazily loaded map, the first photo's GPS,
   photo previews and the chosen category. The form posts normally without this script. The volunteer's
   report-and-fix form (#fix-form) has the same place step. */
(function () {
  "use strict";
  var form = document.getElementById("report-form") || document.getElementById("fix-form");
  if (!form) return;
  var latInput = form.elements.lat, lonInput = form.elements.lon, sourceInput = form.elements.location_source;
  var status = document.getElementById("location-status");
  var mapBox = document.getElementById("map");
  var map = null, marker = null;

  function setPosition(lat, lon, source, message) {
    latInput.value = lat.toFixed(6);
    lonInput.value = lon.toFixed(6);
    sourceInput.value = source;
    status.textContent = message + " (" + lat.toFixed(5) + ", " + lon.toFixed(5) + ")";
    if (marker) { marker.setLatLng([lat, lon]); map.panTo([lat, lon]); }
    document.body.dispatchEvent(new CustomEvent("location-set"));
  }

  // --- The phone's position ---------------------------------------------------------------------------
  var locateButton = document.getElementById("use-location");
  if (locateButton) {
    if (!("geolocation" in navigator)) locateButton.hidden = true;
    locateButton.addEventListener("click", function () {
      status.textContent = mapBox.dataset.locating;
      navigator.geolocation.getCurrentPosition(function (pos) {
        var accuracy = Math.round(pos.coords.accuracy);
        setPosition(pos.coords.latitude, pos.coords.longitude, "gps", mapBox.dataset.gpsOk + " ±" + accuracy + " m");
      }, function () {
        status.textContent = mapBox.dataset.gpsFailed;
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  }

  // --- Map: Leaflet is loaded only when the resident asks for it --------------------------------------
  function loadLeaflet(done) {
    if (window.L) return done();
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = mapBox.dataset.leafletCss;
    document.head.appendChild(css);
    var script = document.createElement("script");
    script.src = mapBox.dataset.leafletJs;
    script.onload = done;
    document.head.appendChild(script);
  }
  var mapButton = document.getElementById("open-map");
  if (mapButton) {
    mapButton.addEventListener("click", function () {
      mapBox.hidden = false;
      mapButton.disabled = true;
      loadLeaflet(function () {
        var center = mapBox.dataset.center.split(",").map(Number);
        var start = latInput.value ? [Number(latInput.value), Number(lonInput.value)] : center;
        map = window.L.map(mapBox).setView(start, 17);
        if (mapBox.dataset.tiles) {
          window.L.tileLayer(mapBox.dataset.tiles, { maxZoom: 19, attribution: mapBox.dataset.attribution }).addTo(map);
        } else {
          status.textContent = mapBox.dataset.noTiles;
        }
        marker = window.L.marker(start, { draggable: true, keyboard: true, title: mapBox.getAttribute("aria-label") }).addTo(map);
        marker.on("dragend", function () {
          var p = marker.getLatLng();
          setPosition(p.lat, p.lng, "map", mapBox.dataset.pinOk);
        });
        map.on("click", function (e) {
          marker.setLatLng(e.latlng);
          setPosition(e.latlng.lat, e.latlng.lng, "map", mapBox.dataset.pinOk);
        });
      });
    });
  }

  // --- Photos: previews, camera or gallery, and the first photo's GPS ---------------------------------
  var gallery = document.getElementById("from-gallery");
  if (gallery) {
    gallery.addEventListener("change", function () {
      form.querySelectorAll("input[type=file]").forEach(function (input) {
        if (gallery.checked) input.removeAttribute("capture"); else input.setAttribute("capture", "environment");
      });
    });
  }
  form.querySelectorAll("input[type=file]").forEach(function (input, index) {
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      var preview = input.parentNode.querySelector(".preview");
      if (preview) {
        if (preview.src) URL.revokeObjectURL(preview.src);
        preview.hidden = !file;
        if (file) preview.src = URL.createObjectURL(file);
      }
      if (file && index === 0 && !latInput.value && window.CitizenGridExif) {
        window.CitizenGridExif.readGps(file).then(function (gps) {
          if (gps && !latInput.value) setPosition(gps.lat, gps.lon, "exif", mapBox.dataset.exifOk);
        });
      }
    });
  });

  // --- Category: say which one is chosen ------------------------------------------------------------
  var chosen = document.getElementById("category-chosen");
  if (chosen) form.addEventListener("change", function (event) {
    var input = event.target;
    if (input.name !== "category" || !input.checked) return;
    var label = input.closest("label"), name = input.value;
    if (label) {
      for (var i = 0; i < label.childNodes.length; i++) {
        var node = label.childNodes[i];
        if (node.nodeType === 3 && node.textContent.trim()) { name = node.textContent.trim(); break; }
      }
    }
    chosen.textContent = chosen.dataset.prefix + " " + name;
  });
})();

/* Capture into the outbox: the report is saved on the phone before any network attempt, then sent by the
   outbox (see outbox.js and app.js). Without IndexedDB the form simply posts to the server. */
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  var outbox = window.CitizenGridOutbox;
  if (!form || !outbox || !window.indexedDB || !window.Promise || !window.Blob) return;
  var MAX_EDGE = 1600;
  var QUALITY = 0.7;
  var text = form.dataset;
  var problems = document.getElementById("client-errors");
  var submit = form.querySelector("button[type=submit]");
  var editing = new URLSearchParams(location.search).get("edit");
  var editedItem = null;

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  /** A JPEG no larger than MAX_EDGE, upright (EXIF orientation applied), about QUALITY; one decode at a time. */
  function downscale(file) {
    if (!window.createImageBitmap) return Promise.resolve(file);
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, MAX_EDGE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      var context = canvas.getContext("2d");
      context.imageSmoothingQuality = "high";
      context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          canvas.width = canvas.height = 0; // free the pixels now, not at the next garbage collection
          resolve(blob || file);
        }, "image/jpeg", QUALITY);
      });
    }, function () {
      return file; // a format this browser cannot decode (e.g. HEIC): the server converts it
    });
  }

  function chosenFiles() {
    var files = [];
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      if (input.files && input.files[0]) files.push(input.files[0]);
    });
    return files;
  }

  function chosenCategory() {
    var checked = form.querySelector("input[name=category]:checked");
    if (!checked) return null;
    var chosen = document.getElementById("category-chosen");
    return { code: checked.value, label: chosen ? chosen.textContent.replace(chosen.dataset.prefix, "").trim() : "" };
  }

  function complain(messages) {
    problems.innerHTML = "";
    var list = document.createElement("ul");
    messages.forEach(function (m) { var li = document.createElement("li"); li.textContent = m; list.appendChild(li); });
    problems.appendChild(list);
    problems.hidden = false;
    problems.focus();
  }

  function capture() {
    var files = chosenFiles();
    var category = chosenCategory();
    var lat = form.elements.lat.value, lon = form.elements.lon.value;
    var address = form.elements.address.value.trim();
    var messages = [];
    if (!files.length && !(editedItem && editedItem.photos.length)) messages.push(text.needPhoto);
    if (!category) messages.push(text.needCategory);
    var gps = (!lat && files.length && window.CitizenGridExif) ? window.CitizenGridExif.readGps(files[0]) : Promise.resolve(null);
    return gps.then(function (position) {
      if (position && !lat) {
        lat = position.lat.toFixed(6); lon = position.lon.toFixed(6);
        form.elements.location_source.value = "exif";
      }
      if (!lat && !address) messages.push(text.needLocation);
      if (messages.length) { complain(messages); return null; }
      submit.disabled = true;
      submit.textContent = text.saving;
      var photos = files.length ? files.reduce(function (chain, file) {
        return chain.then(function (done) { return downscale(file).then(function (b) { return done.concat([b]); }); });
      }, Promise.resolve([])) : Promise.resolve(editedItem.photos);
      return photos.then(function (blobs) {
        var keepId = editedItem && !(editedItem.error && editedItem.error.code === "idempotency_conflict");
        var item = {
          client_id: keepId ? editedItem.client_id : newClientId(),
          created_at: editedItem ? editedItem.created_at : Date.now(),
          label: category.label + (address ? " · " + address : ""),
          fields: {
            category: category.code, lat: lat, lon: lon, address: address,
            description: form.elements.description.value,
            location_source: form.elements.location_source.value || (lat ? "gps" : "address"),
            poster: form.elements.poster ? form.elements.poster.value : "",
            captured_at: new Date(editedItem ? editedItem.created_at : Date.now()).toISOString()
          },
          photos: blobs
        };
        var replaced = editedItem && editedItem.client_id !== item.client_id ? outbox.remove(editedItem.client_id) : Promise.resolve();
        return replaced.then(function () { return outbox.add(item); });
      });
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (submit.disabled) return;
    capture().then(function (item) {
      if (!item) return;
      if (navigator.storage && navigator.storage.persist) navigator.storage.persist()["catch"](function () {});
      location.href = form.dataset.outboxUrl + "?saved=" + encodeURIComponent(item.client_id);
    })["catch"](function () {
      // The phone could not store it (storage full, private mode): send it the ordinary way if we can.
      submit.disabled = false;
      if (navigator.onLine) { form.submit(); } else { complain([text.saveFailed]); }
    });
  });

  // Editing a report that is still on the phone (e.g. one the server refused): fill the form from the outbox.
  if (editing) {
    outbox.get(editing).then(function (item) {
      if (!item) return;
      editedItem = item;
      var f = item.fields;
      var radio = form.querySelector("input[name=category][value='" + f.category + "']");
      if (radio) { radio.checked = true; radio.dispatchEvent(new Event("change", { bubbles: true })); }
      form.elements.lat.value = f.lat || ""; form.elements.lon.value = f.lon || "";
      form.elements.location_source.value = f.location_source || "";
      form.elements.address.value = f.address || "";
      form.elements.description.value = f.description || "";
      if (form.elements.poster) form.elements.poster.value = f.poster || "";
      form.querySelectorAll("input[type=file]").forEach(function (input) { input.required = false; });
      var note = document.getElementById("editing-note");
      if (note) { note.hidden = false; if (item.error && item.error.message) note.querySelector(".reason").textContent = item.error.message; }
    });
  }
})();
