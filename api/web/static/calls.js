// The calls list: badges of calls still being analysed follow their jobs; a finished call
// reloads the list once, so its counts appear.
"use strict";

(() => {
  const rows = [...document.querySelectorAll("tr[data-job-id]")];
  if (!rows.length) return;
  const names = { queued: "Queued", running: "Processing" };
  const poll = async () => {
    let finished = false;
    for (const row of rows) {
      if (row.dataset.finished) continue;
      let job;
      try {
        job = await Assistant.api("GET", `/api/jobs/${row.dataset.jobId}`);
      } catch (err) {
        continue;
      }
      const badge = row.querySelector(".badge");
      if (job.status === "done" || job.status === "failed") {
        row.dataset.finished = "1";
        finished = true;
        continue;
      }
      const status = job.status === "running" ? "processing" : "queued";
      badge.className = `badge status-${status}`;
      badge.dataset.status = status;
      badge.textContent = job.status === "running"
        ? `${names.running} ${Math.round(job.progress * 100)}%`
        : names.queued;
    }
    if (finished) {
      window.location.reload();
      return;
    }
    setTimeout(poll, 3000);
  };
  setTimeout(poll, 1500);
})();
