// The wallboard. The supervisor event stream says something changed (a caller joined the
// queue, an agent's state moved); the board then reads one snapshot (at most every 300 ms).
// Between events the clocks (longest wait, time in state) tick here, from the snapshot's
// time, without asking the server.
"use strict";

(function () {
  const root = document.getElementById("wallboard");
  if (!root) return;
  const urls = root.dataset;
  let snap = JSON.parse(root.dataset.initial);
  let snapAt = Date.now();
  let pending = null;

  const pct = (v) => (v === null || v === undefined ? "—" : Math.round(v * 100) + "%");
  function clock(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = String(m).padStart(2, "0"), ss = String(r).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }
  function td(text, cls) {
    const cell = document.createElement("td");
    cell.textContent = text;
    if (cls) cell.className = cls;
    return cell;
  }

  function render() {
    const elapsed = (Date.now() - snapAt) / 1000;
    for (const b of document.querySelectorAll("#wb-today [data-k]")) {
      const k = b.dataset.k;
      const value = k in snap.today ? snap.today[k] : snap[k];
      b.textContent = k === "service_level" ? pct(value) : value;
    }
    for (const tile of document.querySelectorAll("#wb-today [data-level]")) {
      const k = tile.dataset.level;
      tile.className = "tile lvl-" + (k in snap.today ? snap.today[k] : snap[k]);
    }
    const queues = document.querySelector("#wb-queues tbody");
    queues.replaceChildren(...snap.queues.map((q) => {
      const tr = document.createElement("tr");
      tr.dataset.queue = q.name;
      const waitNow = q.waiting + q.ringing > 0 ? q.longest_wait_s + elapsed : null;
      tr.append(td(q.name), td(q.waiting, "lvl-" + q.waiting_level), td(q.ringing),
        td(clock(waitNow), "lvl-" + (waitNow === null ? "ok" : q.longest_wait_level)),
        td(q.offered), td(q.answered), td(q.abandoned), td(pct(q.service_level), "lvl-" + q.service_level_level));
      return tr;
    }));
    const agents = document.querySelector("#wb-agents tbody");
    agents.replaceChildren(...snap.agents.map((a) => {
      const tr = document.createElement("tr");
      tr.dataset.username = a.username;
      const state = a.state + (a.pause_reason ? `（${a.pause_reason}）` : "");
      tr.append(td(a.name), td(a.interface), td(state, "status-" + a.status),
        td(a.in_state_s === null ? "—" : clock(a.in_state_s + elapsed)), spyButtons(a));
      return tr;
    }));
    const callers = document.querySelector("#wb-callers tbody");
    callers.replaceChildren(...snap.waiting_callers.map((c) => {
      const tr = document.createElement("tr");
      tr.dataset.callId = c.call_id;
      const who = (c.vip ? "VIP " : "") + (c.caller_name ? `${c.caller_name} ` : "") + (c.caller_number || "");
      tr.append(td(c.queue), td(who), td(clock(c.waited_s + elapsed), "lvl-" + c.level),
        td(String(c.priority) + (c.raised ? "（已提前）" : "")), handButtons(c));
      return tr;
    }));
    document.getElementById("wb-no-callers").hidden = snap.waiting_callers.length > 0;
    document.getElementById("wb-states").textContent =
      snap.agents_by_state.map(([word, n]) => `${word} ${n}`).join(" · ");
    document.getElementById("wb-clock").textContent = new Date().toLocaleTimeString("zh-CN", { hour12: false });
  }

  const SPY_MODES = [["listen", "监听"], ["whisper", "耳语"], ["barge", "强插"]];
  function spyButtons(agent) {
    const cell = document.createElement("td");
    if (agent.status !== "on_call") return cell;
    for (const [mode, word] of SPY_MODES) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "spy spy-" + mode;
      button.textContent = word;
      button.addEventListener("click", () => spy(agent, mode, word));
      cell.append(button);
    }
    return cell;
  }
  async function spy(agent, mode, word) {
    const line = document.getElementById("wb-spy-status");
    const result = await cc.postJSON(urls.spyUrl, { agent_id: agent.user_id, mode: mode });
    line.textContent = result.ok ? `${word} ${agent.name}：请接听您的话机…`
      : `${word}未发起：${(result.data && result.data.error) || result.status}`;
    line.className = "wb-spy-status" + (result.ok ? "" : " error");
  }

  function handButtons(c) {
    const cell = document.createElement("td");
    if (c.priority < snap.raise_priority) {
      const up = document.createElement("button");
      up.type = "button";
      up.className = "hand hand-raise";
      up.textContent = "提前";
      up.addEventListener("click", () => hand({ call_id: c.call_id, op: "raise" }, "提前"));
      cell.append(up);
    }
    const select = document.createElement("select");
    select.className = "hand-target";
    select.setAttribute("aria-label", "转到队列");
    select.append(new Option("转队列…", ""));
    for (const q of urls.queues.split(",").filter((q) => q && q !== c.queue)) select.append(new Option(q, q));
    select.addEventListener("change", () => {
      if (select.value) hand({ call_id: c.call_id, op: "move", target: select.value }, "转队列");
    });
    cell.append(select);
    return cell;
  }
  async function hand(body, word) {
    const line = document.getElementById("wb-spy-status");
    const result = await cc.postJSON(urls.callerUrl, body);
    line.textContent = result.ok ? `${word}：已发出` : `${word}未发出：${(result.data && result.data.error) || result.status}`;
    line.className = "wb-spy-status" + (result.ok ? "" : " error");
  }

  async function reload() {
    pending = null;
    const result = await cc.getJSON(urls.dataUrl);
    if (result.status === 401) { window.location.reload(); return; }
    if (!result.ok) return;
    snap = result.data;
    snapAt = Date.now();
    render();
  }
  function changed() {
    if (!pending) pending = setTimeout(reload, 300);
  }

  function connect() {
    const source = new EventSource(urls.eventsUrl);
    const status = document.getElementById("connection");
    source.addEventListener("open", () => { status.textContent = "实时"; changed(); });
    source.addEventListener("error", () => {
      status.textContent = "重新连接…";
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    });
    source.addEventListener("agent", changed);
    source.addEventListener("action", (e) => {
      const data = JSON.parse(e.data);
      const line = document.getElementById("wb-spy-status");
      line.textContent = data.message || "";
      line.className = "wb-spy-status" + (data.ok ? "" : " error");
    });
    source.addEventListener("expired", () => window.location.reload());
  }

  function fullScreen() {
    root.classList.add("full");
    if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen().catch(() => {});
  }
  document.getElementById("wb-full").addEventListener("click", fullScreen);
  document.addEventListener("keydown", (e) => { if (e.key === "f" || e.key === "F") fullScreen(); });
  document.addEventListener("fullscreenchange", () => {
    if (!document.fullscreenElement && !new URLSearchParams(location.search).has("full")) root.classList.remove("full");
  });

  render();
  setInterval(render, 1000);
  connect();
})();
