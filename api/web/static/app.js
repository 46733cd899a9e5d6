// Shared by every page: calls to the JSON API with the CSRF header, and a status line.
"use strict";

const Assistant = (() => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";

  async function api(method, url, body) {
    const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      throw new Error("The server cannot be reached; check your connection and try again.");
    }
    if (response.status === 401) {
      window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname);
      throw new Error("Your session ended; sign in again.");
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (err) {
      data = null;
    }
    if (!response.ok) throw new Error(describe(data, response.status));
    return data;
  }

  function describe(data, status) {
    if (data && typeof data.detail === "string") return data.detail;
    if (data && Array.isArray(data.detail)) {
      return data.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    }
    return `The server answered ${status}; try again.`;
  }

  let toastTimer = null;
  function toast(message, isError) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.classList.toggle("error", Boolean(isError));
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, isError ? 8000 : 3000);
  }

  function clock(seconds) {
    const total = Math.max(Math.floor(seconds || 0), 0);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = String(total % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  // Mark the stages of a job: those before the current one done, the current one active.
  function markStages(list, stage, status) {
    if (!list) return;
    let seen = false;
    for (const li of list.querySelectorAll("li")) {
      const current = li.dataset.stage === stage;
      if (current) seen = true;
      li.classList.toggle("done", status === "done" || (!seen && Boolean(stage)));
      li.classList.toggle("active", current && status === "running");
      if (current && status === "running") li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    }
  }

  return { api, toast, clock, csrf, markStages };
})();
