// The report page's chart: offered / answered / abandoned per row as bars, service level
// as a line on its own axis. Drawn by Chart.js from the JSON the page carries.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const canvas = document.getElementById("report-chart");
  if (!canvas || typeof Chart === "undefined") return;
  const data = JSON.parse(canvas.dataset.report);
  const rows = data.rows;
  const pct = (v) => (v === null ? null : Math.round(v * 1000) / 10);
  window.reportChart = new Chart(canvas, {
    data: {
      labels: rows.map((r) => r.label),
      datasets: [
        { type: "bar", label: "接通", data: rows.map((r) => r.answered), backgroundColor: "#2563eb", stack: "calls" },
        { type: "bar", label: "放弃", data: rows.map((r) => r.abandoned), backgroundColor: "#dc2626", stack: "calls" },
        { type: "bar", label: "短时放弃", data: rows.map((r) => r.short_abandoned), backgroundColor: "#f59e0b", stack: "calls" },
        { type: "line", label: "服务水平 %", data: rows.map((r) => pct(r.service_level)), yAxisID: "sl",
          borderColor: "#059669", backgroundColor: "#059669", spanGaps: true },
      ],
    },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: "来电（通）" } },
        sl: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: "服务水平 %" } },
      },
    },
  });
});
