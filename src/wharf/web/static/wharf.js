// Comfort only: every page works without this file.
"use strict";
document.addEventListener("click", (event) => {
  const copy = event.target.closest("button[data-copy]");
  if (copy) {
    navigator.clipboard.writeText(copy.dataset.copy).then(() => {
      const label = copy.textContent;
      copy.textContent = "Copied";
      setTimeout(() => { copy.textContent = label; }, 1500);
    });
  }
});
// Forms with data-confirm ask before they are sent (deleting, reverting...).
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
// Fields of one choice (data-when="method:webhook slack": the form's `method` is one of these) show
// only while it is picked; a hidden fieldset is disabled, so its fields are neither checked nor sent.
// Without this file every field shows, and the server reads only those of the choice.
function showChosen(form) {
  for (const el of form.querySelectorAll("[data-when]")) {
    const [name, values] = el.dataset.when.split(":");
    const field = form.elements.namedItem(name);
    if (!field) continue;
    const shown = values.split(" ").includes(field.value);
    el.hidden = !shown;
    if (el instanceof HTMLFieldSetElement) el.disabled = !shown;
  }
}
document.addEventListener("change", (event) => {
  if (event.target.form && event.target.form.querySelector("[data-when]")) showChosen(event.target.form);
});
for (const form of document.querySelectorAll("form")) {
  if (form.querySelector("[data-when]")) showChosen(form);
}
// A choice that applies at once (the pull client of the Information and Tags tabs): its GET form is
// sent when it changes. Without this file the form has its own button.
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});
