/* Report form enhancements: position from the phone, a pin on a lazily loaded map, the first photo's GPS,
   photo previews and the chosen category. The form posts normally without this script. The volunteer's
   report-and-fix form (#fix-form) has the same place step. */
(() => {
  "use strict";
  const form = document.getElementById("report-form") || document.getElementById("fix-form");
  if (!form) return;
  const latInput = form.elements.lat, lonInput = form.elements.lon, sourceInput = form.elements.location_source;
  const status = document.getElementById("location-status");
  const mapBox = document.getElementById("map");
  let map = null, marker = null;

  function setPosition(lat, lon, source, message) {
    latInput.value = lat.toFixed(6);
    lonInput.value = lon.toFixed(6);
    sourceInput.value = source;
    status.textContent = `${message} (${lat.toFixed(5)}, ${lon.toFixed(5)})`;
    if (marker) { marker.setLatLng([lat, lon]); map.panTo([lat, lon]); }
    document.body.dispatchEvent(new CustomEvent("location-set"));
  }

  // --- The phone's position ---------------------------------------------------------------------------
  const locateButton = document.getElementById("use-location");
  if (locateButton) {
    if (!("geolocation" in navigator)) locateButton.hidden = true;
    locateButton.addEventListener("click", () => {
      status.textContent = mapBox.dataset.locating;
      navigator.geolocation.getCurrentPosition((pos) => {
        const accuracy = Math.round(pos.coords.accuracy);
        setPosition(pos.coords.latitude, pos.coords.longitude, "gps", `${mapBox.dataset.gpsOk} ±${accuracy} m`);
      }, () => {
        status.textContent = mapBox.dataset.gpsFailed;
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  }

  // --- Map: Leaflet is loaded (by app.js) only when the resident asks for it ----------------------------
  const mapButton = document.getElementById("open-map");
  if (mapButton && window.CitizenGrid) {
    mapButton.addEventListener("click", async () => {
      mapBox.hidden = false;
      mapButton.disabled = true;
      let L;
      const mapHint = document.getElementById("map-hint");
      const noMap = () => { if (mapHint) mapHint.hidden = false; status.textContent = mapBox.dataset.noTiles; };
      try {
        L = await window.CitizenGrid.loadLeaflet(mapBox);
      } catch {
        mapButton.disabled = false; // the address field still works; another tap tries again
        mapBox.hidden = true;
        noMap();
        return;
      }
      const center = mapBox.dataset.center.split(",").map(Number);
      const start = latInput.value ? [Number(latInput.value), Number(lonInput.value)] : center;
      map = L.map(mapBox).setView(start, 17);
      if (mapBox.dataset.tiles) {
        const tiles = L.tileLayer(mapBox.dataset.tiles, { maxZoom: 19, attribution: mapBox.dataset.attribution });
        tiles.once("tileerror", noMap); // offline or the map service is down: a grey box needs words
        tiles.addTo(map);
        if (!navigator.onLine) noMap();
      } else {
        noMap();
      }
      marker = L.marker(start, { draggable: true, keyboard: true, title: mapBox.getAttribute("aria-label") }).addTo(map);
      marker.on("dragend", () => {
        const p = marker.getLatLng();
        setPosition(p.lat, p.lng, "map", mapBox.dataset.pinOk);
      });
      map.on("click", (e) => {
        marker.setLatLng(e.latlng);
        setPosition(e.latlng.lat, e.latlng.lng, "map", mapBox.dataset.pinOk);
      });
    });
  }

  // --- Category search without a network: say to pick from the groups -------------------------------
  const search = document.getElementById("category-search");
  const searchOffline = document.getElementById("category-offline");
  if (search && searchOffline) {
    search.addEventListener("input", () => { searchOffline.hidden = navigator.onLine; });
    search.addEventListener("htmx:sendError", () => { searchOffline.hidden = false; });
    search.addEventListener("htmx:responseError", () => { searchOffline.hidden = navigator.onLine; });
    search.addEventListener("htmx:afterRequest", (event) => {
      if (event.detail.successful) searchOffline.hidden = true;
    });
  }

  // --- Photos: previews, camera or gallery, and the first photo's GPS ---------------------------------
  const fileInputs = form.querySelectorAll("input[type=file]");
  const gallery = document.getElementById("from-gallery");
  if (gallery) {
    gallery.addEventListener("change", () => {
      fileInputs.forEach((input) => {
        if (gallery.checked) input.removeAttribute("capture"); else input.setAttribute("capture", "environment");
      });
    });
  }
  fileInputs.forEach((input, index) => {
    input.addEventListener("change", async () => {
      const file = input.files && input.files[0];
      const preview = input.parentNode.querySelector(".preview");
      if (preview) {
        if (preview.src) URL.revokeObjectURL(preview.src);
        preview.hidden = !file;
        if (file) preview.src = URL.createObjectURL(file);
      }
      if (file && index === 0 && !latInput.value && window.CitizenGridExif) {
        const gps = await window.CitizenGridExif.readGps(file);
        if (gps && !latInput.value) setPosition(gps.lat, gps.lon, "exif", mapBox.dataset.exifOk);
      }
    });
  });

  // --- Category: say which one is chosen ------------------------------------------------------------
  const chosen = document.getElementById("category-chosen");
  if (chosen) form.addEventListener("change", (event) => {
    const input = event.target;
    if (input.name !== "category" || !input.checked) return;
    const label = input.closest("label");
    let name = input.value;
    if (label) {
      const text = Array.from(label.childNodes).find((node) => node.nodeType === 3 && node.textContent.trim());
      if (text) name = text.textContent.trim();
    }
    chosen.textContent = `${chosen.dataset.prefix} ${name}`;
  });
})();

/* Capture into the outbox: the report is saved on the phone before any network attempt, then sent by the
   outbox (see outbox.js and app.js). Without IndexedDB the form simply posts to the server. */
(() => {
  "use strict";
  const form = document.getElementById("report-form");
  const outbox = window.CitizenGridOutbox;
  if (!form || !outbox || !window.indexedDB || !window.Blob) return;
  const MAX_EDGE = 1600;
  const QUALITY = 0.7;
  const text = form.dataset;
  const problems = document.getElementById("client-errors");
  const submit = form.querySelector("button[type=submit]");
  const editing = new URLSearchParams(location.search).get("edit");
  let editedItem = null;

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** A JPEG no larger than MAX_EDGE, upright (EXIF orientation applied), about QUALITY; one decode at a time. */
  async function downscale(file) {
    if (!window.createImageBitmap) return file;
    let bitmap;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch {
      return file; // a format this browser cannot decode (e.g. HEIC): the server converts it
    }
    const scale = Math.min(1, MAX_EDGE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    const context = canvas.getContext("2d");
    context.imageSmoothingQuality = "high";
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", QUALITY));
    canvas.width = canvas.height = 0; // free the pixels now, not at the next garbage collection
    return blob || file;
  }

  function chosenFiles() {
    return Array.from(form.querySelectorAll("input[type=file]"))
      .map((input) => input.files && input.files[0])
      .filter(Boolean);
  }

  function chosenCategory() {
    const checked = form.querySelector("input[name=category]:checked");
    if (!checked) return null;
    const chosen = document.getElementById("category-chosen");
    return { code: checked.value, label: chosen ? chosen.textContent.replace(chosen.dataset.prefix, "").trim() : "" };
  }

  function complain(messages) {
    problems.innerHTML = "";
    const list = document.createElement("ul");
    for (const m of messages) { const li = document.createElement("li"); li.textContent = m; list.appendChild(li); }
    problems.appendChild(list);
    problems.hidden = false;
    problems.focus();
  }

  async function capture() {
    const files = chosenFiles();
    const category = chosenCategory();
    let lat = form.elements.lat.value, lon = form.elements.lon.value;
    const address = form.elements.address.value.trim();
    const messages = [];
    if (!files.length && !(editedItem && editedItem.photos.length)) messages.push(text.needPhoto);
    if (!category) messages.push(text.needCategory);
    const position = (!lat && files.length && window.CitizenGridExif) ? await window.CitizenGridExif.readGps(files[0]) : null;
    if (position && !lat) {
      lat = position.lat.toFixed(6); lon = position.lon.toFixed(6);
      form.elements.location_source.value = "exif";
    }
    if (!lat && !address) messages.push(text.needLocation);
    if (messages.length) { complain(messages); return null; }
    submit.disabled = true;
    submit.textContent = text.saving;
    let blobs = editedItem ? editedItem.photos : [];
    if (files.length) {
      blobs = [];
      for (const file of files) blobs.push(await downscale(file)); // one decode at a time: phones have little memory
    }
    const keepId = editedItem && !(editedItem.error && editedItem.error.code === "idempotency_conflict");
    const createdAt = editedItem ? editedItem.created_at : Date.now();
    const item = {
      client_id: keepId ? editedItem.client_id : newClientId(),
      created_at: createdAt,
      label: category.label + (address ? ` · ${address}` : ""),
      fields: {
        category: category.code, lat, lon, address,
        description: form.elements.description.value,
        location_source: form.elements.location_source.value || (lat ? "gps" : "address"),
        poster: form.elements.poster ? form.elements.poster.value : "",
        captured_at: new Date(createdAt).toISOString(),
      },
      photos: blobs,
    };
    if (editedItem && editedItem.client_id !== item.client_id) await outbox.remove(editedItem.client_id);
    return outbox.add(item);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    let item;
    try {
      item = await capture();
    } catch {
      // The phone could not store it (storage full, private mode): send it the ordinary way if we can.
      submit.disabled = false;
      if (navigator.onLine) { form.submit(); } else { complain([text.saveFailed]); }
      return;
    }
    if (!item) return;
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
    location.href = `${form.dataset.outboxUrl}?saved=${encodeURIComponent(item.client_id)}`;
  });

  // Editing a report that is still on the phone (e.g. one the server refused): fill the form from the outbox.
  if (editing) {
    outbox.get(editing).then((item) => {
      if (!item) return;
      editedItem = item;
      const f = item.fields;
      const radio = form.querySelector(`input[name=category][value='${f.category}']`);
      if (radio) { radio.checked = true; radio.dispatchEvent(new Event("change", { bubbles: true })); }
      form.elements.lat.value = f.lat || ""; form.elements.lon.value = f.lon || "";
      form.elements.location_source.value = f.location_source || "";
      form.elements.address.value = f.address || "";
      form.elements.description.value = f.description || "";
      if (form.elements.poster) form.elements.poster.value = f.poster || "";
      form.querySelectorAll("input[type=file]").forEach((input) => { input.required = false; });
      const note = document.getElementById("editing-note");
      if (note) { note.hidden = false; if (item.error && item.error.message) note.querySelector(".reason").textContent = item.error.message; }
    });
  }
})();
