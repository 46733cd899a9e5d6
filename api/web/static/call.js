// The call page: seek the player, review items in place, speakers, delete, live progress.
"use strict";

(() => {
  const root = document.getElementById("call");
  if (!root) return;
  const callId = root.dataset.callId;
  const player = document.getElementById("player");
  const { api, toast } = Assistant;

  // -- playing a moment ------------------------------------------------------------------------
  function seek(seconds, play) {
    if (!player || Number.isNaN(seconds)) return;
    const go = () => {
      player.currentTime = seconds;
      if (play) player.play().catch(() => {});
    };
    if (player.readyState >= 1) go();
    else {
      player.addEventListener("loadedmetadata", go, { once: true });
      player.load();
    }
    markSegment(seconds);
  }

  function markSegment(seconds) {
    let current = null;
    for (const li of document.querySelectorAll("#segments li")) {
      if (parseFloat(li.dataset.start) <= seconds + 0.05) current = li;
      li.classList.remove("current");
    }
    if (current) current.classList.add("current");
    return current;
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest(".seek, .seek-quote");
    if (!target || !target.dataset.t) return;
    seek(parseFloat(target.dataset.t), true);
  });

  const params = new URLSearchParams(window.location.search);
  if (params.has("t")) {
    const t = parseFloat(params.get("t"));
    seek(t, false);
    let segment = markSegment(t);
    const byId = (attr, name) =>
      params.get(name) && document.querySelector(`[${attr}="${CSS.escape(params.get(name))}"]`);
    const exact = byId("data-segment-id", "seg");
    if (exact) {
      segment?.classList.remove("current");
      exact.classList.add("current");
      segment = exact;
    }
    const item = byId("data-item-id", "item");
    (item || segment)?.scrollIntoView({ block: "center" });
    item?.classList.add("current");
  }

  // -- reviewing items -------------------------------------------------------------------------
  function show(article, item) {
    article.dataset.review = item.review;
    article.className = `item review-${item.review}`;
    article.querySelector('[data-field="review"]').textContent = item.review;
    article.querySelector('[data-field="text"]').textContent = item.text;
    for (const name of ["owner", "due", "category"]) {
      const field = article.querySelector(`[data-field="${name}"]`);
      if (field) field.textContent = item[name] || "—";
    }
    article.querySelector('[data-action="accept"]').setAttribute("aria-pressed", item.review === "accepted");
    article.querySelector('[data-action="reject"]').setAttribute("aria-pressed", item.review === "rejected");
    const section = article.closest(".kind");
    const count = section.querySelectorAll('.item:not([data-review="rejected"])').length;
    section.querySelector(".count").textContent = count;
  }

  async function patch(article, body, message) {
    try {
      const item = await api("PATCH", `/api/items/${article.dataset.itemId}`, body);
      show(article, item);
      toast(message);
      return true;
    } catch (err) {
      toast(err.message, true);
      return false;
    }
  }

  for (const article of document.querySelectorAll(".item")) {
    const form = article.querySelector(".item-edit");
    const editButton = article.querySelector('[data-action="edit"]');
    const close = () => {
      form.hidden = true;
      editButton.setAttribute("aria-expanded", "false");
      editButton.focus();
    };
    article.querySelector('[data-action="accept"]').addEventListener("click", () =>
      patch(article, { review: "accepted" }, "Accepted"));
    article.querySelector('[data-action="reject"]').addEventListener("click", () =>
      patch(article, { review: "rejected" }, "Rejected"));
    editButton.addEventListener("click", () => {
      form.hidden = !form.hidden;
      editButton.setAttribute("aria-expanded", String(!form.hidden));
      if (!form.hidden) form.elements.text.focus();
    });
    form.querySelector('[data-action="cancel"]').addEventListener("click", close);
    form.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = form.elements.text.value.trim();
      if (!text) {
        toast("An item needs a text.", true);
        return;
      }
      const body = {
        text,
        owner: form.elements.owner.value.trim() || null,
        due: form.elements.due.value || null,
        category: form.elements.category.value || null,
      };
      if (await patch(article, body, "Saved")) close();
    });
  }

  // -- adding an item the model missed ---------------------------------------------------------
  const addForm = document.getElementById("add-item-form");
  function seconds(text) {
    const parts = text.trim().split(":").map(Number);
    if (!parts.length || parts.some((n) => Number.isNaN(n) || n < 0)) return NaN;
    return parts.reduce((total, n) => total * 60 + n, 0);
  }
  addForm?.querySelector('[data-action="player-time"]').addEventListener("click", () => {
    if (player) addForm.elements.at.value = Assistant.clock(player.currentTime);
  });
  addForm?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const at = seconds(addForm.elements.at.value);
    const text = addForm.elements.text.value.trim();
    if (Number.isNaN(at)) {
      toast("Give the moment as minutes:seconds, like 1:05.", true);
      return;
    }
    if (!text) {
      toast("An item needs a text.", true);
      return;
    }
    const body = {
      kind: addForm.elements.kind.value,
      text,
      quote: addForm.elements.quote.value.trim(),
      start_s: at,
      end_s: at,
      owner: addForm.elements.owner.value.trim() || null,
      due: addForm.elements.due.value || null,
      category: addForm.elements.category.value || null,
    };
    try {
      await api("POST", `/api/calls/${callId}/items`, body);
      window.location.reload();
    } catch (err) {
      toast(err.message, true);
    }
  });

  // -- speakers --------------------------------------------------------------------------------
  const speakers = document.getElementById("speakers-form");
  speakers?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const updates = [...speakers.querySelectorAll("fieldset")].map((fs) => ({
      label: fs.dataset.label,
      name: fs.querySelector('[name="name"]').value.trim() || null,
      role: fs.querySelector('[name="role"]').value || null,
    }));
    try {
      await api("PATCH", `/api/calls/${callId}/speakers`, { speakers: updates });
      window.location.reload();
    } catch (err) {
      toast(err.message, true);
    }
  });

  // -- the call's customer: moved to another (or a new) customer ------------------------------
  document.getElementById("customer-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const customer = event.currentTarget.elements.customer.value;
    try {
      await api("PUT", `/api/calls/${callId}/customer`, { customer });
      window.location.reload();
    } catch (err) {
      toast(err.message, true);
    }
  });

  // -- delete ----------------------------------------------------------------------------------
  document.getElementById("delete-call")?.addEventListener("click", async (event) => {
    const title = event.currentTarget.dataset.title;
    if (!window.confirm(`Delete “${title}” with its recording, transcript and items? This cannot be undone.`)) return;
    try {
      await api("DELETE", `/api/calls/${callId}`);
      window.location.href = "/calls";
    } catch (err) {
      toast(err.message, true);
    }
  });

  // -- live progress while the call is analysed ----------------------------------------------
  const jobId = root.dataset.jobId;
  if (jobId && ["queued", "processing"].includes(root.dataset.status)) {
    const bar = document.getElementById("progress-bar");
    const text = document.getElementById("progress-text");
    const names = {};
    for (const li of document.querySelectorAll("#stages li")) names[li.dataset.stage] = li.textContent;
    const poll = async () => {
      let job;
      try {
        job = await api("GET", `/api/jobs/${jobId}`);
      } catch (err) {
        text.textContent = err.message;
        setTimeout(poll, 3000);
        return;
      }
      if (job.status === "done" || job.status === "failed") {
        window.location.reload();
        return;
      }
      bar.value = job.progress;
      text.textContent = job.status === "queued"
        ? (job.attempts ? "Waiting to try again…" : "Waiting for a worker…")
        : `${names[job.stage] || job.stage || "Working"}…`;
      Assistant.markStages(document.getElementById("stages"), job.stage, job.status);
      setTimeout(poll, 1000);
    };
    poll();
  }

  // -- the follow-up email draft: loaded when opened, editable, copied as text ----------------
  const email = document.getElementById("email");
  if (email) {
    const box = document.getElementById("email-text");
    const load = async () => {
      const response = await fetch(`/api/calls/${root.dataset.callId}/email`, {
        credentials: "same-origin",
      });
      if (!response.ok) {
        toast(`The draft could not be made (${response.status}); try again.`, true);
        return;
      }
      box.value = await response.text();
    };
    email.addEventListener("toggle", () => {
      if (email.open && !box.value) load();
    });
    document.getElementById("email-reload").addEventListener("click", load);
    document.getElementById("email-copy").addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(box.value);
      } catch (err) {
        box.select();
        document.execCommand("copy");
      }
      toast("The email is copied.");
    });
  }
})();
