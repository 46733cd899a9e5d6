// The customer page and the follow-up list: mark action items done, rename and merge a
// customer, dismiss a warning, and the calendar feed's address. Changes go through the JSON API.
"use strict";

(() => {
  const { api, toast } = Assistant;

  async function act(button, work) {
    button.disabled = true;
    try {
      await work();
      window.location.reload();
    } catch (err) {
      toast(err.message, true);
      button.disabled = false;
    }
  }

  document.addEventListener("click", (event) => {
    const done = event.target.closest("button[data-done]");
    if (done) act(done, () => api("POST", `/api/items/${done.dataset.done}/done`));
  });

  const customer = document.getElementById("customer");
  const id = customer ? customer.dataset.customerId : null;

  const rename = document.getElementById("rename-form");
  if (rename) {
    rename.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = rename.elements.name.value;
      act(rename.querySelector("button"), () => api("PATCH", `/api/customers/${id}`, { name }));
    });
  }

  const merge = document.getElementById("merge-form");
  if (merge) {
    merge.addEventListener("submit", (event) => {
      event.preventDefault();
      const source = Number(merge.elements.source.value);
      if (!source) return;
      const body = { sources: [source] };
      act(merge.querySelector("button"), () => api("POST", `/api/customers/${id}/merge`, body));
    });
  }

  for (const form of document.querySelectorAll("form.dismiss")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const warning = form.closest("[data-kind]");
      const body = {
        kind: warning.dataset.kind,
        subject: warning.dataset.subject,
        reason: form.elements.reason.value,
      };
      act(form.querySelector("button"), () =>
        api("POST", `/api/customers/${id}/warnings/dismiss`, body));
    });
  }

  const box = document.getElementById("calendar-box");
  const newFeed = document.getElementById("calendar-new");
  if (newFeed) {
    newFeed.addEventListener("click", async () => {
      try {
        const feed = await api("POST", "/api/users/me/calendar");
        document.getElementById("calendar-url").value = feed.url;
        box.hidden = false;
        toast("A new calendar address; the one before no longer works.");
      } catch (err) {
        toast(err.message, true);
      }
    });
    document.getElementById("calendar-revoke").addEventListener("click", async () => {
      try {
        await api("DELETE", "/api/users/me/calendar");
        box.hidden = true;
        toast("The calendar address is revoked.");
      } catch (err) {
        toast(err.message, true);
      }
    });
  }
})();
