/* The outbox page: what is still on this phone, its state and the server's reason, with change/delete. */
(() => {
  "use strict";
  const outbox = window.CitizenGridOutbox;
  const listEl = document.getElementById("outbox-list");
  if (!outbox || !listEl) return;
  const t = JSON.parse(document.getElementById("outbox-text").textContent);
  const params = new URLSearchParams(location.search);
  let urls = [];

  if (params.get("saved")) document.getElementById("saved-note").hidden = false;

  const stateText = (item) => {
    if (item.state === "waiting" && item.error && item.error.status) return t.retry;
    return t[item.state] || t.waiting;
  };

  const when = (ms) => {
    try {
      return new Date(ms).toLocaleString(t.lang, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
    } catch { return new Date(ms).toLocaleString(); }
  };

  const element = (tag, className, content) => {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (content !== undefined) el.textContent = content;
    return el;
  };

  const renderItem = (item) => {
    const li = element("li", `report-card outbox-item state-${item.state}`);
    li.dataset.clientId = item.client_id;
    const row = element("div", "outbox-row");
    const photos = item.photos || [];
    if (photos[0]) {
      const url = URL.createObjectURL(photos[0]);
      urls.push(url);
      const img = element("img");
      img.src = url;
      img.alt = "";
      img.width = 88;
      img.height = 88;
      row.appendChild(img);
    }
    const body = element("span", "card-body");
    body.appendChild(element("span", "card-title", item.label || item.fields.category));
    body.appendChild(element("span", "card-meta", `${t.saved_at} ${when(item.created_at)} · ${photos.length} ${t.photos}`));
    body.appendChild(element("span", "outbox-state", stateText(item)));
    if (item.error && item.error.message && item.state !== "waiting") {
      body.appendChild(element("span", "error outbox-reason", item.error.message));
    }
    row.appendChild(body);
    li.appendChild(row);
    const actions = element("div", "outbox-actions");
    if (item.state !== "sending") {
      if (!item.endpoint) { // a report can be changed; a check-in scan cannot
        const edit = element("a", "button", t.edit);
        edit.href = `${t.edit_url}?edit=${encodeURIComponent(item.client_id)}`;
        actions.appendChild(edit);
      }
      const del = element("button", "button", t.delete);
      del.type = "button";
      del.addEventListener("click", () => {
        if (window.confirm(t.confirm_delete)) outbox.remove(item.client_id).then(render);
      });
      actions.appendChild(del);
    }
    li.appendChild(actions);
    return li;
  };

  const render = async () => {
    urls.forEach(URL.revokeObjectURL);
    urls = [];
    const [items, sent] = await Promise.all([outbox.list(), outbox.sent(10)]);
    listEl.innerHTML = "";
    items.forEach((item) => listEl.appendChild(renderItem(item)));
    document.getElementById("outbox-empty").hidden = items.length > 0;
    document.getElementById("login-note").hidden = !items.some((i) => i.state === "login");
    const sentList = document.getElementById("sent-list");
    sentList.innerHTML = "";
    for (const s of sent) {
      const li = element("li");
      const a = element("a", null, t.report_no.replace("{id}", s.id));
      a.href = s.url;
      li.appendChild(a);
      li.appendChild(document.createTextNode(` ${s.label || ""}`));
      sentList.appendChild(li);
    }
    document.getElementById("sent-section").hidden = sent.length === 0;
  };

  const showStorage = () => {
    if (!navigator.storage || !navigator.storage.estimate) return;
    Promise.all([navigator.storage.estimate(), navigator.storage.persisted ? navigator.storage.persisted() : false])
      .then(([estimate, persisted]) => {
        const mb = `${((estimate.usage || 0) / 1048576).toFixed(1)} MB`;
        document.getElementById("storage-use").textContent =
          t.storage.replace("{used}", mb) + (persisted ? ` ${t.persisted}` : "");
      })
      .catch(() => {});
  };

  document.getElementById("send-now").addEventListener("click", () => {
    if (window.CitizenGridSync) window.CitizenGridSync.kick({ force: true });
  });
  document.addEventListener("outbox:changed", render);
  document.addEventListener("outbox:pass", render);
  try { new BroadcastChannel(outbox.CHANNEL).addEventListener("message", render); } catch { /* re-rendered on passes */ }
  render();
  showStorage();
})();
