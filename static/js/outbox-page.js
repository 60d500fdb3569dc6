/* The outbox page: what is still on this phone, its state and the server's reason, with change/delete. */
(function () {
  "use strict";
  var outbox = window.CitizenGridOutbox;
  var listEl = document.getElementById("outbox-list");
  if (!outbox || !listEl) return;
  var t = JSON.parse(document.getElementById("outbox-text").textContent);
  var params = new URLSearchParams(location.search);
  var urls = [];

  if (params.get("saved")) document.getElementById("saved-note").hidden = false;

  function stateText(item) {
    if (item.state === "waiting" && item.error && item.error.status) return t.retry;
    return t[item.state] || t.waiting;
  }

  function when(ms) {
    try {
      return new Date(ms).toLocaleString(t.lang, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
    } catch (e) { return new Date(ms).toLocaleString(); }
  }

  function element(tag, className, content) {
    var el = document.createElement(tag);
    if (className) el.className = className;
    if (content !== undefined) el.textContent = content;
    return el;
  }

  function renderItem(item) {
    var li = element("li", "report-card outbox-item state-" + item.state);
    li.dataset.clientId = item.client_id;
    var row = element("div", "outbox-row");
    if (item.photos && item.photos[0]) {
      var url = URL.createObjectURL(item.photos[0]);
      urls.push(url);
      var img = element("img");
      img.src = url;
      img.alt = "";
      img.width = 88;
      img.height = 88;
      row.appendChild(img);
    }
    var body = element("span", "card-body");
    body.appendChild(element("span", "card-title", item.label || item.fields.category));
    body.appendChild(element("span", "card-meta", t.saved_at + " " + when(item.created_at) + " · " + (item.photos || []).length + " " + t.photos));
    body.appendChild(element("span", "outbox-state", stateText(item)));
    if (item.error && item.error.message && item.state !== "waiting") {
      body.appendChild(element("span", "error outbox-reason", item.error.message));
    }
    row.appendChild(body);
    li.appendChild(row);
    var actions = element("div", "outbox-actions");
    if (item.state !== "sending") {
      if (!item.endpoint) { // a report can be changed; a check-in scan cannot
        var edit = element("a", "button", t.edit);
        edit.href = t.edit_url + "?edit=" + encodeURIComponent(item.client_id);
        actions.appendChild(edit);
      }
      var del = element("button", "button", t["delete"]);
      del.type = "button";
      del.addEventListener("click", function () {
        if (window.confirm(t.confirm_delete)) outbox.remove(item.client_id).then(render);
      });
      actions.appendChild(del);
    }
    li.appendChild(actions);
    return li;
  }

  function render() {
    urls.forEach(URL.revokeObjectURL);
    urls = [];
    return Promise.all([outbox.list(), outbox.sent(10)]).then(function (results) {
      var items = results[0], sent = results[1];
      listEl.innerHTML = "";
      items.forEach(function (item) { listEl.appendChild(renderItem(item)); });
      document.getElementById("outbox-empty").hidden = items.length > 0;
      document.getElementById("login-note").hidden = !items.some(function (i) { return i.state === "login"; });
      var sentList = document.getElementById("sent-list");
      sentList.innerHTML = "";
      sent.forEach(function (s) {
        var li = element("li");
        var a = element("a", null, t.report_no.replace("{id}", s.id));
        a.href = s.url;
        li.appendChild(a);
        li.appendChild(document.createTextNode(" " + (s.label || "")));
        sentList.appendChild(li);
      });
      document.getElementById("sent-section").hidden = sent.length === 0;
    });
  }

  function showStorage() {
    if (!navigator.storage || !navigator.storage.estimate) return;
    Promise.all([navigator.storage.estimate(), navigator.storage.persisted ? navigator.storage.persisted() : false])
      .then(function (r) {
        var mb = ((r[0].usage || 0) / 1048576).toFixed(1) + " MB";
        document.getElementById("storage-use").textContent = t.storage.replace("{used}", mb) + (r[1] ? " " + t.persisted : "");
      })["catch"](function () {});
  }

  document.getElementById("send-now").addEventListener("click", function () {
    if (window.CitizenGridSync) window.CitizenGridSync.kick({ force: true });
  });
  document.addEventListener("outbox:changed", render);
  document.addEventListener("outbox:pass", render);
  try { new BroadcastChannel(outbox.CHANNEL).addEventListener("message", render); } catch (e) { /* re-rendered on passes */ }
  render();
  showStorage();
})();
