// The transcript widget (templates/speech/_transcript.html): lines of both sides beside the
// player, the line being played highlighted, a click on a line or a check's moment seeks.
(function () {
  "use strict";
  var SIDES = { agent: "坐席", caller: "客户" };
  var CHECK_ORDER = ["greeting", "farewell", "banned", "negative", "interruption"];

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setUp(widget) {
    var audio = widget.dataset.audio ? document.querySelector(widget.dataset.audio)
                                     : widget.querySelector(".cc-transcript-audio");
    var list = widget.querySelector(".cc-transcript-lines");
    var checks = widget.querySelector(".cc-transcript-check-list");
    var items = [];
    var current = null;

    function seek(seconds) {
      if (!audio) return;
      audio.currentTime = seconds;
      if (audio.paused) audio.play().catch(function () {});
    }

    function highlight() {
      if (!audio) return;
      var t = audio.currentTime, found = null;
      for (var i = 0; i < items.length; i++) {
        if (items[i].start <= t + 0.05) found = items[i]; else break;
      }
      if (found && t > found.end + 1.5) found = null;     // between lines: nothing is being said
      if (found === current) return;
      if (current) current.node.classList.remove("current");
      current = found;
      if (current) {
        current.node.classList.add("current");
        current.node.scrollIntoView({ block: "nearest" });
      }
    }

    function render(data) {
      list.textContent = "";
      if (!data.lines.length) {
        list.appendChild(element("li", "muted", "尚未转写"));
      }
      data.lines.forEach(function (line) {
        var node = element("li", "line " + line.side);
        node.dataset.start = line.start;
        node.appendChild(element("span", "at", clock(line.start)));
        node.appendChild(element("span", "side", SIDES[line.side] || line.side));
        node.appendChild(element("span", "text", line.text));
        node.addEventListener("click", function () { seek(line.start); });
        list.appendChild(node);
        items.push({ start: line.start, end: line.end, node: node });
      });
      checks.textContent = "";
      var codes = Object.keys(data.checks).sort(function (a, b) {
        var ia = CHECK_ORDER.indexOf(a), ib = CHECK_ORDER.indexOf(b);
        return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
      });
      codes.forEach(function (code) {
        var check = data.checks[code];
        var item = element("li", check.passed ? "ok" : "failed");
        item.dataset.check = code;
        item.appendChild(element("span", "verdict", check.passed ? "✓" : "✗"));
        item.appendChild(element("span", "label", check.label));
        check.evidence.forEach(function (moment) {
          var link = element("button", "moment", clock(moment.at) + (moment.phrase ? " " + moment.phrase : ""));
          link.type = "button";
          link.addEventListener("click", function () { seek(moment.at); });
          item.appendChild(link);
        });
        checks.appendChild(item);
      });
      highlight();
    }

    if (audio) {
      audio.addEventListener("timeupdate", highlight);
      audio.addEventListener("seeked", highlight);
    }
    fetch(widget.dataset.transcriptUrl, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(render)
      .catch(function () { list.textContent = ""; list.appendChild(element("li", "muted", "转写加载失败")); });
  }

  function start() {
    document.querySelectorAll(".cc-transcript").forEach(setUp);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
