// Shared helpers for the panel. Everything that shows data builds DOM nodes and sets
// textContent: caller names come from the phone network and are never parsed as HTML.
"use strict";

// Shown inside the agent console's side panel (same origin): no top bar of its own.
if (window.top !== window.self) document.documentElement.classList.add("embedded");

window.cc = (function () {
  // Agent states as AMI reports them (callcenter.models.AgentStatus), in the panel's words.
  const AGENT_STATUS = {
    offline: "离线", ready: "就绪", paused: "暂停", ringing: "振铃", on_call: "通话中", wrap_up: "整理中",
  };

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  async function request(method, url, body) {
    const options = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (err) {
      return { ok: false, status: 0, data: { error: "网络错误 (network error)" } };
    }
    let data = {};
    try { data = await response.json(); } catch (err) { data = {}; }
    return { ok: response.ok, status: response.status, data: data };
  }

  function el(tag, options, children) {
    const node = document.createElement(tag);
    options = options || {};
    if (options.text !== undefined && options.text !== null) node.textContent = String(options.text);
    if (options.cls) node.className = options.cls;
    if (options.attrs) {
      for (const [name, value] of Object.entries(options.attrs)) node.setAttribute(name, String(value));
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  function pick(obj, path) {
    return path.split(".").reduce((o, key) => (o === null || o === undefined ? undefined : o[key]), obj);
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  return {
    AGENT_STATUS: AGENT_STATUS,
    csrfToken: csrfToken,
    getJSON: (url) => request("GET", url),
    postJSON: (url, body) => request("POST", url, body),
    el: el,
    pick: pick,
    clear: clear,
  };
})();
