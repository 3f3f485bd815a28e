// The inspector's player: speed, position, comments that seek, and "comment here" taking
// the player's current time.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  const player = document.getElementById("player");
  const speed = document.getElementById("speed");
  const position = document.getElementById("position");
  const commentAt = document.getElementById("comment-at");

  function clock(seconds) {
    const s = Math.floor(seconds);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  if (player && speed) {
    speed.addEventListener("change", function () { player.playbackRate = parseFloat(speed.value); });
  }
  if (player) {
    player.addEventListener("timeupdate", function () {
      if (position) position.textContent = clock(player.currentTime);
      if (commentAt && document.activeElement !== commentAt) commentAt.value = player.currentTime.toFixed(1);
    });
  }
  document.querySelectorAll("a.seek").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      if (!player) return;
      player.currentTime = parseFloat(link.dataset.at);
      player.play().catch(function () { /* autoplay refused: the position still moved */ });
    });
  });
});
