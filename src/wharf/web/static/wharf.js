// Comfort only: every page works without this file.
"use strict";

// Copy buttons (data-copy="text"); a shortened digest (.digest code[data-full]) shows its full
// value on a click or tap, and the short one again on the next.
document.addEventListener("click", (event) => {
  const copy = event.target.closest("button[data-copy]");
  if (copy) {
    navigator.clipboard.writeText(copy.dataset.copy).then(() => {
      const label = copy.textContent;
      copy.textContent = "Copied";
      setTimeout(() => { copy.textContent = label; }, 1500);
    });
    return;
  }
  const digest = event.target.closest(".digest code[data-full]");
  if (digest) toggleDigest(digest);
  // The error page after a form: back in history shows the form again with what was typed.
  const back = event.target.closest("a[data-back]");
  if (back && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});
document.addEventListener("keydown", (event) => {
  const digest = event.target.closest && event.target.closest(".digest code[data-full]");
  if (digest && (event.key === "Enter" || event.key === " ")) {
    event.preventDefault();
    toggleDigest(digest);
  }
});
function toggleDigest(code) {
  const full = code.classList.toggle("full");
  if (!code.dataset.short) code.dataset.short = code.textContent;
  code.textContent = full ? code.dataset.full : code.dataset.short;
  code.setAttribute("aria-expanded", String(full));
}

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

// The header's menu on a narrow screen: the account links fold behind one button (wharf.css
// hides them only when the header has `has-menu`, so without this file they simply wrap).
const header = document.querySelector("header.top");
const menuButton = header && header.querySelector(".menu-toggle");
if (menuButton) {
  header.classList.add("has-menu");
  menuButton.hidden = false;
  const setOpen = (open) => {
    header.classList.toggle("open", open);
    menuButton.setAttribute("aria-expanded", String(open));
  };
  menuButton.addEventListener("click", () => {
    const open = !header.classList.contains("open");
    setOpen(open);
    if (open) {
      const first = header.querySelector(".account a, .account button");
      if (first) first.focus();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && header.classList.contains("open")) {
      setOpen(false);
      menuButton.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (header.classList.contains("open") && !header.contains(event.target)) setOpen(false);
  });
}

// Dialogs: a button with data-dialog-open="ID" opens <dialog id="ID"> as a modal (the browser
// keeps focus inside and closes it on Escape); data-dialog-close closes the dialog it is in.
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-dialog-open]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.dialogOpen);
    if (dialog && typeof dialog.showModal === "function") {
      event.preventDefault();
      dialog.showModal();
      const first = dialog.querySelector("[autofocus], input, select, textarea, button");
      if (first) first.focus();
    }
    return;
  }
  const closer = event.target.closest("[data-dialog-close]");
  if (closer) {
    const dialog = closer.closest("dialog");
    if (dialog) {
      event.preventDefault();
      dialog.close();
    }
  }
});

// A tab bar scrolled so that the current tab shows (on a phone it may be far to the right).
for (const current of document.querySelectorAll(".tabs .current")) {
  const bar = current.closest(".tabs");
  if (bar.scrollWidth > bar.clientWidth) {
    const left = current.getBoundingClientRect().left - bar.getBoundingClientRect().left + bar.scrollLeft;
    bar.scrollLeft = left - (bar.clientWidth - current.offsetWidth) / 2;
  }
}

// A choice that applies at once (the pull client of the Information and Tags tabs): its GET form is
// sent when it changes. Without this file the form has its own button.
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});


// A refused form shows again with its errors (web/forms.py): the first wrong field takes the focus,
// in view, so the message next to it is read first.
// The address bar shows the page's address (base.html's <base>), not the form's: reloading or
// bookmarking opens the page, and in-page links (#content) stay on it.
// The skip link names the form's address, the page's URL without this file (base.html); once the
// address bar shows the page's, it names the page's, so that it still only moves the focus.
const formPage = document.querySelector("base[href]");
if (formPage) {
  history.replaceState(null, "", formPage.href + location.hash);
  for (const link of document.querySelectorAll("a[data-in-page]")) {
    link.href = formPage.href + new URL(link.href).hash;
  }
}
const wrong = document.querySelector('[aria-invalid="true"]');
if (wrong) {
  wrong.focus();
  wrong.scrollIntoView({ block: "center" });
}

// A running build's page follows its log: each poll asks getRepoBuildLogs for the entries from
// `start` on (only the new ones), and the status for the phase, until the build has finished.
// `internalerror` is not the end: its builder died and another runs it again (`expired` once no
// run is left, as Quay says).
const buildLog = document.querySelector("[data-build-log]");
if (buildLog) {
  const base = buildLog.dataset.buildLog;
  const terminal = new Set(["complete", "error", "cancelled", "expired"]);
  let start = Number(buildLog.dataset.start || 0);
  const poll = async () => {
    try {
      const logs = await (await fetch(`${base}/logs?start=${start}`, { credentials: "same-origin" })).json();
      for (const entry of logs.logs || []) {
        const item = document.createElement("li");
        item.className = `log-${entry.type || "output"}`;
        item.textContent = entry.message;
        buildLog.appendChild(item);
      }
      start = logs.start + (logs.logs || []).length;
      const status = await (await fetch(`${base}/status`, { credentials: "same-origin" })).json();
      const phase = document.querySelector("[data-build-phase]");
      if (phase && status.phase) {
        phase.textContent = status.phase;
        phase.className = `build-phase phase-${status.phase}`;
      }
      if (terminal.has(status.phase)) {
        const following = document.querySelector("[data-build-following]");
        if (following) following.textContent = `The build has finished: ${status.phase}.`;
        return;
      }
    } catch (_error) {
      // a failed poll is tried again
    }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 2000);
}

// Team invitations and entity search (issue 19): a name field with data-entities="<namespace>"
// offers, in its datalist, the users and robots whose names start with what is typed
// (getMatchingEntities). The list's own options (the namespace's robots) stay; typing the full
// name works as before.
document.querySelectorAll("input[data-entities][list]").forEach((input) => {
  const list = document.getElementById(input.getAttribute("list"));
  if (!list) return;
  let timer = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const prefix = input.value.trim();
    if (!prefix) return;
    timer = setTimeout(() => {
      const url = `/api/v1/entities/${encodeURIComponent(prefix)}?namespace=${encodeURIComponent(input.dataset.entities)}`;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : { results: [] }))
        .then((found) => {
          const known = new Set(Array.from(list.options, (option) => option.value));
          for (const entity of found.results || []) {
            if (entity.kind !== "user" || known.has(entity.name)) continue;
            const option = document.createElement("option");
            option.value = entity.name;
            list.appendChild(option);
          }
        })
        .catch(() => {});
    }, 200);
  });
});
