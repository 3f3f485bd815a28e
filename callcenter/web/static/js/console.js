// The agent console: phone interface, ready/pause, the event stream and the screen-pop.
"use strict";

(function () {
  const root = document.getElementById("console");
  if (!root) return;
  const urls = root.dataset;
  const $ = (id) => document.getElementById(id);
  const MAX_POPS = 5;
  const ACTION_TIMEOUT_MS = 8000;
  let source = null;
  let reconnectTimer = null;
  const pending = new Map();

  function say(text, isError) {
    const node = $("console-message");
    node.textContent = text || "";
    node.classList.toggle("error", !!isError);
  }

  // --- timers: time in the current state, the live call, the wrap-up countdown ---------
  let stateSince = Date.now();
  let wrapupEnds = 0;
  const two = (n) => String(n).padStart(2, "0");
  const clock = (ms) => { const s = Math.max(0, Math.floor(ms / 1000)); return two(Math.floor(s / 60)) + ":" + two(s % 60); };

  function tick() {
    $("state-timer").textContent = clock(Date.now() - stateSince);
    const countdown = $("wrapup-countdown");
    if (wrapupEnds) {
      const left = Math.ceil((wrapupEnds - Date.now()) / 1000);
      countdown.textContent = left > 0 ? `整理剩余 ${left} 秒，之后自动就绪` : "整理时间到，等待就绪…";
    }
    for (const node of $("pops").children) {
      if (node.dataset.connectedAt && !node.dataset.endedAt) {
        node.querySelector(".call-timer").textContent = clock(Date.now() - Number(node.dataset.connectedAt));
      }
    }
  }
  setInterval(tick, 1000);

  function renderState(state) {
    const status = $("agent-status");
    if (status.dataset.status !== state.status) {
      stateSince = Date.now();
      wrapupEnds = state.status === "wrap_up" && Number(urls.wrapupS) > 0 ? Date.now() + Number(urls.wrapupS) * 1000 : 0;
      $("wrapup-countdown").hidden = !wrapupEnds;
    }
    status.dataset.status = state.status;
    status.textContent = cc.AGENT_STATUS[state.status] || state.status;
    $("pause-reason").textContent = state.status === "paused" ? (state.pause_reason || "") : "";
    if (state.interface && document.activeElement !== $("interface")) $("interface").value = state.interface;
    document.querySelectorAll(".queue-toggle").forEach((box) => {
      box.checked = (state.queues || []).indexOf(box.value) >= 0;
    });
    if (state.status === "on_call" && state.current_linkedid) {
      // A call that reached this phone without a queue (a transfer) has no AgentConnect.
      for (const node of $("pops").children) {
        if (node.dataset.linkedid === state.current_linkedid && !node.dataset.endedAt) { markLive(node); break; }
      }
    }
    tick();
  }

  // --- event stream -------------------------------------------------------------
  function connect() {
    if (source) source.close();
    clearTimeout(reconnectTimer);
    root.dataset.connected = "0";
    source = new EventSource(urls.eventsUrl);
    // "connected" once the server has sent the opening state: from then on nothing is missed.
    source.addEventListener("open", () => { $("connection").textContent = "已连接"; });
    source.addEventListener("error", () => {
      $("connection").textContent = "重新连接…";
      root.dataset.connected = "0";
      // EventSource retries by itself after a dropped connection, but gives up on an
      // HTTP error (401 after the session ended, 503 when the server is full).
      if (source.readyState === EventSource.CLOSED) recoverLater();
    });
    source.addEventListener("state", (e) => { renderState(JSON.parse(e.data)); root.dataset.connected = "1"; });
    source.addEventListener("pop", (e) => renderPop(JSON.parse(e.data)));
    source.addEventListener("ring", (e) => { const d = JSON.parse(e.data); ringAgain(d.pop_key || d.linkedid); });
    source.addEventListener("call", (e) => callEvent(JSON.parse(e.data)));
    source.addEventListener("action", (e) => actionResult(JSON.parse(e.data)));
    source.addEventListener("notify", (e) => say(JSON.parse(e.data).message));
    source.addEventListener("expired", () => { source.close(); window.location.assign(urls.loginUrl); });
  }

  async function recoverLater() {
    const probe = await cc.getJSON(urls.stateUrl);
    if (probe.status === 401) { window.location.assign(urls.loginUrl); return; }
    reconnectTimer = setTimeout(connect, 5000);
  }

  // --- screen-pop ---------------------------------------------------------------
  // A pop is known by its key (the call's pop key from route_call, else its linkedid).
  function popFor(key) {
    for (const node of $("pops").children) if (node.dataset.popKey === key) return node;
    return null;
  }

  function fill(node, pop) {
    node.querySelectorAll("[data-field]").forEach((field) => {
      const value = cc.pick(pop, field.dataset.field);
      field.textContent = value === undefined || value === null ? "" : String(value);
    });
  }

  function listInto(list, items, format, extra) {
    cc.clear(list);
    if (!items || !items.length) { list.appendChild(cc.el("li", { text: "无", cls: "muted" })); return; }
    for (const item of items) {
      const li = cc.el("li", { text: format(item) });
      const more = extra ? extra(item) : null;
      if (more) { li.appendChild(document.createTextNode(" ")); li.appendChild(more); }
      list.appendChild(li);
    }
  }

  // The recording of one of this agent's own earlier calls (the QA page plays it to them).
  function recordingLink(call) {
    if (!urls.recordingUrl || !call.has_recording || String(call.answered_by_id) !== urls.userId) return null;
    return cc.el("a", { text: "录音", cls: "recording-link",
      attrs: { href: urls.recordingUrl.replace(/0$/, String(call.id)), target: "_blank", rel: "noopener" } });
  }

  // --- alerting: ring sound, desktop notification, title (each can be turned off) ----------
  const ALERTS = ["sound", "desktop", "title"];
  const baseTitle = document.title;
  let audio = null;
  let titleTimer = null;

  for (const name of ALERTS) {
    const box = $("alert-" + name);
    const saved = window.localStorage.getItem("cc-alert-" + name);
    if (saved !== null) box.checked = saved === "1";
    box.addEventListener("change", () => {
      window.localStorage.setItem("cc-alert-" + name, box.checked ? "1" : "0");
      if (name === "desktop" && box.checked && "Notification" in window && Notification.permission === "default") {
        Notification.requestPermission();
      }
      if (name === "sound" && box.checked) audioContext();
    });
  }
  const wants = (name) => $("alert-" + name).checked;

  function audioContext() {
    // Created on a click (就座, a checkbox): browsers keep audio silent until the user acts.
    if (!audio && (window.AudioContext || window.webkitAudioContext)) {
      audio = new (window.AudioContext || window.webkitAudioContext)();
    }
    if (audio && audio.state === "suspended") audio.resume();
    return audio;
  }

  function ringSound() {
    const ctx = audioContext();
    if (!ctx) return;
    // Two short tones twice, like a desk phone (no sound file to fetch).
    for (let i = 0; i < 4; i++) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = i % 2 ? 480 : 440;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(ctx.destination);
      const start = ctx.currentTime + i * 0.45;
      osc.start(start);
      osc.stop(start + 0.35);
    }
    root.dataset.rang = String(Number(root.dataset.rang || "0") + 1);
  }

  function flashTitle(text) {
    clearInterval(titleTimer);
    let on = true;
    document.title = text;
    titleTimer = setInterval(() => { on = !on; document.title = on ? text : baseTitle; }, 1000);
  }

  window.addEventListener("focus", () => { clearInterval(titleTimer); document.title = baseTitle; });

  function alertNewCall(pop) {
    const who = (pop.customer && pop.customer.name) || (pop.caller && (pop.caller.name || pop.caller.number)) || "";
    const why = (pop.badges || []).map((b) => b.text).join(" ");
    if (wants("sound")) ringSound();
    if (wants("title")) flashTitle("📞 来电 " + who);
    if (wants("desktop") && "Notification" in window && Notification.permission === "granted") {
      const note = new Notification("来电：" + who, { body: [why, (pop.ivr_steps || []).join(" → ")].filter(Boolean).join("\n"),
        tag: pop.pop_key || pop.linkedid });
      note.onclick = () => { window.focus(); note.close(); };
      root.dataset.notified = String(Number(root.dataset.notified || "0") + 1);
    }
  }

  function renderPop(pop) {
    const key = pop.pop_key || pop.linkedid;
    let node = popFor(key);
    if (node) { ringAgain(key); return; }
    alertNewCall(pop);
    node = document.getElementById("pop-template").content.firstElementChild.cloneNode(true);
    node.dataset.popKey = key;
    node.dataset.linkedid = pop.linkedid;
    node.dataset.rings = "1";
    fill(node, pop);
    const customer = pop.customer;
    node.classList.toggle("vip", !!(customer && customer.vip));
    node.classList.toggle("unknown", !customer);
    const link = node.querySelector(".customer-link");
    if (customer) {
      link.setAttribute("href", urls.recordUrl.replace(/\/0$/, "/" + Number(customer.id)));
    } else {
      link.textContent = "新客户";
    }
    const ivrPath = node.querySelector(".ivr-path");
    ivrPath.textContent = (pop.ivr_steps || (pop.ivr && pop.ivr.path) || []).join(" → ");
    ivrPath.title = ((pop.ivr && pop.ivr.path) || []).join(" → ");
    const badges = node.querySelector(".badges");
    for (const badge of pop.badges || []) {
      badges.appendChild(cc.el("li", { text: badge.text, cls: "badge badge-" + badge.kind }));
    }
    ticketItems(node.querySelector(".open-tickets"), pop.open_tickets, node);
    listInto(node.querySelector(".last-calls"), pop.last_calls,
      (c) => `${c.started_at} ${c.category_label || ""} ${c.status_label} ${c.answered_by || ""}`, recordingLink);
    listInto(node.querySelector(".last-tickets"), pop.last_tickets,
      (t) => `${t.created_at} ${t.number} ${t.type_label} ${t.subject} — ${t.status_label} ${t.resolution || ""}`);
    addActions(node, pop);
    wireCallBar(node);
    if (pop.transfer_from) {
      const from = node.querySelector(".transfer-from");
      from.textContent = "由 " + pop.transfer_from + " 转接（工单仍由首问坐席负责）";
      from.hidden = false;
    }
    if (pop.new_customer) unknownCard(node, pop);
    $("pops").prepend(node);
    // Old pops go, but never the one whose ticket is open in the side panel.
    const kept = Array.from($("pops").children);
    for (let i = kept.length - 1; i >= 0 && $("pops").children.length > MAX_POPS; i--) {
      if (kept[i] !== sideOwner) kept[i].remove();
    }
    $("no-call").hidden = true;
  }

  // --- side panel: tickets beside the calls -------------------------------------------
  // The ticket pages open in an iframe of this page, never in place of it: leaving the
  // console would close the event stream and lose the pops.
  let sideOwner = null;   // the pop whose ticket the panel shows

  function openSide(url, title, popNode) {
    $("side-title").textContent = title;
    $("side-frame").src = url;
    $("side-panel").hidden = false;
    document.body.classList.add("side-open");
    sideOwner = popNode || null;
  }

  function closeSide() {
    $("side-panel").hidden = true;
    document.body.classList.remove("side-open");
    $("side-frame").src = "about:blank";
    sideOwner = null;
  }

  $("side-close").addEventListener("click", closeSide);
  $("side-frame").addEventListener("load", () => {
    // Same origin: a saved ticket lands on its page (/tickets/<id>); the pop shows it.
    let path = "";
    try { path = $("side-frame").contentWindow.location.pathname; } catch (err) { return; }
    const saved = /\/tickets\/(\d+)$/.exec(path);
    if (saved && sideOwner) {
      sideOwner.dataset.ticketId = saved[1];
      const doc = $("side-frame").contentDocument;
      const number = doc && doc.querySelector("#ticket-number");
      sideOwner.querySelector(".ticket-saved").textContent =
        "工单 " + (number ? number.textContent.trim() : "#" + saved[1]);
    }
  });

  function sideLink(text, cls, url, title, node) {
    const link = cc.el("a", { text: text, cls: cls, attrs: { href: url } });
    link.addEventListener("click", (e) => { e.preventDefault(); openSide(url, title, node); });
    return link;
  }

  function ticketLink(node, pop, customerId) {
    if (!urls.ticketUrl) return null;
    const params = new URLSearchParams({ linkedid: pop.linkedid, phone: (pop.caller && pop.caller.number) || "",
      category: (pop.ivr && pop.ivr.category) || "" });
    if (customerId) params.set("customer_id", String(customerId));
    return sideLink("新建工单", "button new-ticket", urls.ticketUrl + "?" + params.toString(),
      "新建工单 · " + ((pop.caller && pop.caller.number) || ""), node);
  }

  function ticketViewUrl(id) { return urls.ticketViewUrl.replace(/\/0$/, "/" + Number(id)); }

  function addActions(node, pop) {
    const actions = node.querySelector(".actions");
    cc.clear(actions);
    const link = ticketLink(node, pop, pop.customer && pop.customer.id);
    if (link) actions.appendChild(link);
    actions.appendChild(cc.el("span", { cls: "ticket-saved" }));
  }

  // Open tickets: each opens (to read, note or edit) in the side panel.
  function ticketItems(list, items, node) {
    cc.clear(list);
    if (!items || !items.length) { list.appendChild(cc.el("li", { text: "无", cls: "muted" })); return; }
    for (const t of items) {
      const text = `${t.number} ${t.type_label} ${t.subject} — ${t.status_label}${t.due_at ? "（期限 " + t.due_at + "）" : ""}`;
      const item = cc.el("li");
      item.appendChild(urls.ticketViewUrl ? sideLink(text, "ticket-link", ticketViewUrl(t.id), "工单 " + t.number, node)
        : cc.el("span", { text: text }));
      list.appendChild(item);
    }
  }

  // An unknown caller: one line (seen before or not) and an "add customer" that opens
  // the form only when the agent asks for it.
  function unknownCard(node, pop) {
    const card = node.querySelector(".unknown-card");
    const seen = pop.seen_before || 0;
    const last = (pop.last_calls || [])[0];
    card.querySelector(".seen").textContent = seen
      ? `未登记号码 · 曾来电 ${seen >= 5 ? "5+" : seen} 次，最近 ${last.started_at}`
      : "未登记号码 · 首次来电";
    card.hidden = false;
    card.querySelector(".add-customer").addEventListener("click", (e) => {
      e.currentTarget.hidden = true;
      addNewCustomerForm(node, pop);
      const first = node.querySelector(".new-customer-form input[name=name]");
      if (first) first.focus();
    });
  }

  function addNewCustomerForm(node, pop) {
    const box = node.querySelector(".new-customer");
    const input = (name, label, value) => cc.el("label", { text: label }, [
      cc.el("input", { attrs: { name: name, value: value || "", maxlength: name === "address" ? 255 : 100 } })]);
    const tier = cc.el("select", { attrs: { name: "tier" } }, [
      cc.el("option", { text: "普通", attrs: { value: "ordinary" } }),
      cc.el("option", { text: "会员", attrs: { value: "member" } }),
      cc.el("option", { text: "VIP", attrs: { value: "vip" } })]);
    const form = cc.el("form", { cls: "new-customer-form stacked" }, [
      cc.el("h3", { text: "新客户" }),
      // Not prefilled: the caller ID name is the network's (often 新来电 or empty), not a person's.
      input("name", "姓名", ""),
      input("number", "电话", pop.new_customer.number),
      input("area", "小区/区域"), input("building", "栋"), input("unit", "单元"), input("room", "房号"),
      input("address", "地址"),
      cc.el("label", { text: "等级" }, [tier]),
      cc.el("button", { text: "保存客户", attrs: { type: "submit" } }),
      cc.el("p", { cls: "form-message" }),
    ]);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = Object.fromEntries(new FormData(form).entries());
      body.linkedid = pop.linkedid;
      const result = await cc.postJSON(urls.customerUrl, body);
      if (!result.ok) { form.querySelector(".form-message").textContent = result.data.error || "保存失败"; return; }
      cc.clear(box);
      box.appendChild(cc.el("p", { text: "已创建客户：" + result.data.name, cls: "created" }));
      const link = node.querySelector(".customer-link");
      link.textContent = result.data.name;
      link.setAttribute("href", urls.recordUrl.replace(/\/0$/, "/" + Number(result.data.id)));
      node.classList.remove("unknown");
      node.querySelector(".unknown-card").hidden = true;
      pop.customer = { id: result.data.id };
      addActions(node, pop);
    });
    box.appendChild(form);
  }

  function ringAgain(key) {
    const node = popFor(key);
    if (!node) return;
    node.dataset.rings = String(Number(node.dataset.rings || "1") + 1);
    node.querySelector(".ring-count").textContent = "再次振铃 ×" + node.dataset.rings;
    $("pops").prepend(node);
  }

  function callEvent(data) {
    const node = popFor(data.pop_key || data.linkedid);
    if (!node) return;
    node.dataset.call = data.type;
    if (data.type === "agent_connect") markLive(node);
    if (data.type === "agent_complete") callEnded(node);
  }

  // --- the live call: controls, timer, wrap-up ------------------------------------------------
  function markLive(node) {
    for (const other of $("pops").children) if (other !== node) delete other.dataset.live;
    node.dataset.live = "1";
    if (!node.dataset.connectedAt) node.dataset.connectedAt = String(Date.now());
    node.querySelector(".call-bar").hidden = false;
    $("pops").prepend(node);
    tick();
  }

  function callEnded(node) {
    delete node.dataset.live;
    node.dataset.endedAt = String(Date.now());
    node.querySelector(".call-bar").hidden = true;
    showWrapup(node);
  }

  let codes = null;
  async function showWrapup(node) {
    const box = node.querySelector(".wrapup");
    box.hidden = false;
    if (codes === null) {
      const result = await cc.getJSON(urls.codesUrl);
      codes = result.ok ? result.data.codes : [];
    }
    const select = box.querySelector(".wrapup-code");
    if (!select.options.length) {
      select.appendChild(cc.el("option", { text: "请选择…", attrs: { value: "" } }));
      for (const c of codes) select.appendChild(cc.el("option", { text: c.label, attrs: { value: c.id } }));
    }
  }

  function callControl(node, body) {
    node.querySelector(".call-note").textContent = "处理中…";
    sendAction(Object.assign({ linkedid: node.dataset.linkedid }, body), urls.callUrl);
  }

  function callControlDone(data) {
    const node = popFor(data.pop_key);
    if (!node) return;
    const note = node.querySelector(".call-note");
    if (!data.ok) { note.textContent = "失败：" + (data.message || data.op); return; }
    if (data.op === "hold") { node.dataset.held = "1"; node.querySelector(".hold").textContent = "取消保持"; note.textContent = "客户正在听等待音乐"; }
    else if (data.op === "unhold") { delete node.dataset.held; node.querySelector(".hold").textContent = "保持"; note.textContent = ""; }
    else if (data.op === "transfer" && data.attended) { note.textContent = "正在咨询 " + data.target + "：通话后挂机即转出"; }
    else if (data.op === "transfer") { node.dataset.transferred = data.target; note.textContent = "已转接 → " + data.target; }
    else if (data.op === "hangup") { note.textContent = "已挂断"; }
  }

  async function fillTargets(select) {
    const result = await cc.getJSON(urls.targetsUrl);
    if (!result.ok) return;
    const keep = select.firstElementChild;
    cc.clear(select);
    select.appendChild(keep);
    const agents = cc.el("optgroup", { attrs: { label: "坐席" } });
    for (const a of result.data.agents) {
      agents.appendChild(cc.el("option", { text: `${a.name}（${cc.AGENT_STATUS[a.status] || a.status}）`,
        attrs: { value: "agent|" + a.interface } }));
    }
    const queues = cc.el("optgroup", { attrs: { label: "队列" } });
    for (const q of result.data.queues) queues.appendChild(cc.el("option", { text: q, attrs: { value: "queue|" + q } }));
    select.appendChild(agents);
    select.appendChild(queues);
    select.appendChild(cc.el("option", { text: "外线号码…", attrs: { value: "number|" } }));
  }

  function wireCallBar(node) {
    const bar = node.querySelector(".call-bar");
    bar.querySelector(".hangup").addEventListener("click", () => callControl(node, { op: "hangup" }));
    bar.querySelector(".hold").addEventListener("click", () =>
      callControl(node, { op: node.dataset.held === "1" ? "unhold" : "hold" }));
    const select = bar.querySelector(".transfer-target");
    const number = bar.querySelector(".transfer-number");
    select.addEventListener("focus", () => { if (select.options.length <= 1) fillTargets(select); });
    select.addEventListener("change", () => { number.hidden = !select.value.startsWith("number|"); });
    const transfer = (attended) => {
      const [kind, value] = (select.value || "|").split("|");
      if (!kind) { node.querySelector(".call-note").textContent = "请选择转接目标"; return; }
      callControl(node, { op: "transfer", target_kind: kind, target: kind === "number" ? number.value : value,
        attended: attended });
    };
    bar.querySelector(".transfer").addEventListener("click", () => transfer(false));
    // 咨询转接: talk to the target first; hanging up the phone hands the caller over.
    bar.querySelector(".transfer-attended").addEventListener("click", () => transfer(true));
    const wrap = node.querySelector(".wrapup");
    wrap.querySelector(".wrapup-save").addEventListener("click", async () => {
      const result = await cc.postJSON(urls.wrapupUrl, { linkedid: node.dataset.linkedid,
        code_id: wrap.querySelector(".wrapup-code").value, note: wrap.querySelector(".wrapup-note").value });
      wrap.querySelector(".wrapup-saved").textContent = result.ok ? "已保存：" + result.data.label : (result.data.error || "保存失败");
      if (result.ok) node.dataset.wrapup = result.data.label;
    });
  }

  // --- console actions ------------------------------------------------------------
  // The answer on the stream can arrive before the POST that asked for it has returned
  // (the listener answers in a few ms): an answer nobody waits for yet is kept here, so
  // the request finds it instead of starting a timer that nothing would clear.
  const early = new Map();
  const EARLY_MEMORY = 32;

  function showResult(data) {
    if (data.op) callControlDone(data);
    if (!data.ok) say("操作失败：" + (data.message || data.action), true);
    else say("");
  }

  function actionResult(data) {
    const timer = pending.get(data.request_id);
    if (timer) {
      clearTimeout(timer);
      pending.delete(data.request_id);
    } else if (data.request_id) {
      early.set(data.request_id, data);
      while (early.size > EARLY_MEMORY) early.delete(early.keys().next().value);
    }
    showResult(data);
    root.dataset.lastAnswer = data.request_id || "";
  }

  async function sendAction(body, url) {
    const result = await cc.postJSON(url || urls.actionUrl, body);
    if (!result.ok) { say(result.data.error || "操作失败", true); return; }
    const id = result.data.request_id;
    if (early.has(id)) { const answer = early.get(id); early.delete(id); showResult(answer); return; }
    say("处理中…");
    pending.set(id, setTimeout(() => {
      pending.delete(id);
      say("电话系统未响应 (no answer from the phone system)", true);
    }, ACTION_TIMEOUT_MS));
  }

  $("interface-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const result = await cc.postJSON(urls.interfaceUrl, { interface: $("interface").value });
    if (!result.ok) { say(result.data.error || "设置失败", true); return; }
    renderState(result.data);
    say("已就座：" + result.data.interface);
    if (wants("sound")) audioContext();
    connect();
    $("btn-ready").focus();
  });
  $("btn-ready").addEventListener("click", () => {
    // queues.conf has no static members: an agent in no queue would be "ready" for nothing.
    const boxes = document.querySelectorAll(".queue-toggle");
    if (boxes.length && !Array.from(boxes).some((b) => b.checked)) {
      say("请先勾选要接听的队列 (choose the queues you take calls from)", true);
      return;
    }
    sendAction({ action: "ready" });
  });
  $("btn-wrapup").addEventListener("click", () => sendAction({ action: "ready" }));

  // --- keyboard: Alt+R ready, Alt+P pause, Alt+H hang up, Alt+N new ticket, Esc closes the panel
  function currentPop() {
    return $("pops").querySelector(".pop[data-live='1']") || $("pops").firstElementChild;
  }
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("side-panel").hidden) { closeSide(); return; }
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    const key = e.key.toLowerCase();
    const pop = currentPop();
    if (key === "r") $("btn-ready").click();
    else if (key === "p") $("btn-pause").click();
    else if (key === "h" && pop && pop.dataset.live === "1") pop.querySelector(".hangup").click();
    else if (key === "n" && pop && pop.querySelector("a.new-ticket")) pop.querySelector("a.new-ticket").click();
    else return;
    e.preventDefault();
  });
  $("btn-pause").addEventListener("click", () => sendAction({ action: "pause", reason: $("pause-reason-select").value }));
  document.querySelectorAll(".queue-toggle").forEach((box) => box.addEventListener("change", () =>
    sendAction({ action: box.checked ? "join" : "leave", queue: box.value })));

  // --- manual search ----------------------------------------------------------------
  $("search-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = $("search-q").value.trim();
    const out = $("search-results");
    cc.clear(out);
    if (!q) return;
    const result = await cc.getJSON(urls.searchUrl + "?" + new URLSearchParams({ q: q }).toString());
    if (!result.ok) { out.appendChild(cc.el("p", { text: result.data.error || "查询失败", cls: "error" })); return; }
    const list = cc.el("ul", { cls: "results" });
    for (const c of result.data.customers) {
      const phones = c.phones.map((p) => p.number).join(" ");
      list.appendChild(cc.el("li", { cls: c.vip ? "vip" : "" }, [
        cc.el("a", { text: c.name, attrs: { href: urls.recordUrl.replace(/\/0$/, "/" + Number(c.id)) } }),
        cc.el("span", { text: ` ${c.tier_label} ${c.unit_address} ${phones}` })]));
    }
    for (const t of result.data.tickets) {
      list.appendChild(cc.el("li", { text: `${t.number} ${t.type_label} ${t.subject} — ${t.status_label} ${t.customer_name}` }));
    }
    if (!list.children.length) list.appendChild(cc.el("li", { text: "没有结果", cls: "muted" }));
    out.appendChild(list);
  });

  if ($("interface").value) connect();
  else say("请先填写话机并就座 (enter your phone interface)");
})();
