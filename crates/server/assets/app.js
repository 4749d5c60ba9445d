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
