// The upload page: pick or drop several recordings, upload each with a progress bar, then
// follow its analysis stage by stage; one recording opens its call page when it is done.
"use strict";

(() => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("files");
  const drop = document.getElementById("drop");
  const chosen = document.getElementById("chosen");
  const error = document.getElementById("upload-error");
  const button = document.getElementById("upload-button");
  const list = document.getElementById("uploads");
  const rowTemplate = document.getElementById("upload-row");
  let files = [];

  function showChosen() {
    chosen.replaceChildren(...files.map((f) => {
      const li = document.createElement("li");
      li.textContent = `${f.name} (${(f.size / 1e6).toFixed(1)} MB)`;
      return li;
    }));
  }

  function fail(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  input.addEventListener("change", () => {
    files = [...input.files];
    fail("");
    showChosen();
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    files = [...event.dataTransfer.files];
    fail("");
    showChosen();
  });

  function send(file, fields, row) {
    return new Promise((resolve, reject) => {
      const body = new FormData();
      for (const [name, value] of Object.entries(fields)) if (value) body.append(name, value);
      body.append("file", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/calls");
      xhr.setRequestHeader("X-CSRF-Token", Assistant.csrf);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) row.querySelector(".sent").value = event.loaded / event.total;
      });
      xhr.addEventListener("load", () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (err) { data = null; }
        if (xhr.status === 200 || xhr.status === 202) resolve(data);
        else reject(new Error((data && typeof data.detail === "string") ? data.detail
          : `The server answered ${xhr.status}; try again.`));
      });
      xhr.addEventListener("error", () => reject(new Error("The upload was interrupted; check your connection and try again.")));
      xhr.send(body);
    });
  }

  async function follow(accepted, row) {
    const state = row.querySelector(".state");
    const work = row.querySelector(".work");
    const stages = row.querySelector(".stages");
    const names = {};
    for (const li of stages.querySelectorAll("li")) names[li.dataset.stage] = li.textContent;
    let job = accepted.job;
    for (;;) {
      if (job.status === "done" || job.status === "failed") break;
      work.value = job.progress;
      state.textContent = job.status === "queued" ? "Waiting for a worker…" : `${names[job.stage] || "Working"}…`;
      Assistant.markStages(stages, job.stage, job.status);
      await new Promise((r) => setTimeout(r, 1000));
      try {
        job = await Assistant.api("GET", `/api/jobs/${job.id}`);
      } catch (err) {
        state.textContent = err.message;
      }
    }
    Assistant.markStages(stages, null, job.status);
    work.value = job.status === "done" ? 1 : work.value;
    row.dataset.status = job.status;
    return job;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fail("");
    if (!files.length) {
      fail("Choose or drop at least one recording first.");
      input.focus();
      return;
    }
    const fields = Object.fromEntries(
      ["customer", "title", "call_date", "language", "rep"]
        .filter((name) => form.elements[name])
        .map((name) => [name, form.elements[name].value.trim()]));
    if (fields.language === "auto") delete fields.language;
    button.disabled = true;
    const batch = files;
    files = [];
    input.value = "";
    showChosen();
    const rows = batch.map((file) => {
      const row = rowTemplate.content.firstElementChild.cloneNode(true);
      row.querySelector(".name").textContent = file.name;
      list.append(row);
      return row;
    });
    const followed = [];
    for (const [i, file] of batch.entries()) {
      const row = rows[i];
      const state = row.querySelector(".state");
      const result = row.querySelector(".result");
      state.textContent = "Uploading…";
      let accepted;
      try {
        const own = { ...fields };
        if (own.title && batch.length > 1) own.title = `${own.title} (${i + 1})`;
        accepted = await send(file, own, row);
      } catch (err) {
        row.dataset.status = "rejected";
        state.textContent = "Not uploaded";
        result.textContent = err.message;
        result.className = "result error";
        continue;
      }
      row.querySelector(".sent").value = 1;
      row.dataset.callId = accepted.call.id;
      const link = document.createElement("a");
      link.href = `/calls/${accepted.call.id}`;
      link.textContent = accepted.created ? "Open the call" : "Uploaded before: open the existing call";
      result.replaceChildren(link);
      followed.push(follow(accepted, row).then((job) => {
        state.textContent = job.status === "done" ? "Done" : "Failed: open the call to see why and retry";
        return { job, callId: accepted.call.id };
      }));
    }
    button.disabled = false;
    const done = await Promise.all(followed);
    if (batch.length === 1 && done.length === 1) window.location.href = `/calls/${done[0].callId}`;
  });
})();
