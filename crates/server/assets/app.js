// hdos progressive enhancement: pages work without it. Asks before disabling users or revoking
// tokens, using the button's own text so it needs no translation table.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  if (/\/(disable|revoke)$/.test(form.getAttribute("action") || "")) {
    const label = form.querySelector("button")?.textContent?.trim() || "";
    if (!window.confirm(label + "?")) event.preventDefault();
  }
});

// The mapping page previews as the manager types: the edited mapping is posted as a preview and
// the page's preview section replaced with the answer's, a moment after the last keystroke.
(() => {
  const form = document.getElementById("mapping-form");
  const text = document.getElementById("mapping");
  if (!form || !text) return;
  let timer;
  text.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const body = new URLSearchParams(new FormData(form));
      body.set("intent", "preview");
      const response = await fetch(form.action, { method: "POST", body, credentials: "same-origin" });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("preview");
      const current = document.getElementById("preview");
      if (fresh && current) current.replaceWith(fresh);
    }, 700);
  });
})();

// Uploads show their progress: the form is sent with its CSRF token in a header, and the page
// the server answers with (the collection page with its notice, or an error page) replaces this
// one. Without script the form posts as it is.
(() => {
  const form = document.getElementById("upload");
  if (!form) return;
  const bar = form.querySelector("progress");
  const label = form.querySelector("output");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRF-Token", form.elements["_csrf"].value);
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      bar.hidden = false;
      bar.value = Math.round((100 * e.loaded) / e.total);
      label.textContent = bar.value + "%";
    });
    xhr.addEventListener("load", () => {
      if (xhr.status < 400) {
        window.location.assign(xhr.responseURL);
      } else {
        document.open();
        document.write(xhr.responseText);
        document.close();
      }
    });
    // The server may answer (413, 409) and close before the file is sent: let the user retry.
    xhr.addEventListener("error", () => {
      label.textContent = "✗";
      form.querySelector("button").disabled = false;
    });
    form.querySelector("button").disabled = true;
    xhr.send(new FormData(form));
  });
})();
