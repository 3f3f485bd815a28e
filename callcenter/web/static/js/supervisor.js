// The supervisor's live view: the stream says something changed, the overview is re-read.
"use strict";

(function () {
  const root = document.getElementById("supervisor");
  if (!root) return;
  const urls = root.dataset;
  let refreshTimer = null;

  function row(cells, attrs) {
    return cc.el("tr", { attrs: attrs || {} }, cells.map((c) => cc.el("td", { text: c === null || c === undefined ? "" : c })));
  }

  async function refresh() {
    const result = await cc.getJSON(urls.overviewUrl);
    if (result.status === 401) { window.location.reload(); return; }
    if (!result.ok) return;
    const queues = document.querySelector("#queues tbody");
    cc.clear(queues);
    for (const q of result.data.queues) queues.appendChild(row([q.name, q.waiting, q.ringing, q.answered, q.abandoned, q.total]));
    const agents = document.querySelector("#agents tbody");
    cc.clear(agents);
    for (const a of result.data.agents) {
      const tr = row([a.display_name, a.interface, cc.AGENT_STATUS[a.status] || a.status, a.pause_reason, a.queues.join(", ")], { "data-interface": a.interface });
      tr.children[2].className = "status-" + a.status;
      agents.appendChild(tr);
    }
  }

  function scheduleRefresh() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 500);
  }

  function connect() {
    const source = new EventSource(urls.eventsUrl);
    source.addEventListener("open", () => { document.getElementById("connection").textContent = "实时"; });
    source.addEventListener("error", () => {
      document.getElementById("connection").textContent = "重新连接…";
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    });
    source.addEventListener("agent", scheduleRefresh);
    source.addEventListener("expired", () => window.location.reload());
  }

  connect();
})();
