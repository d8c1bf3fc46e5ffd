// Light and dark: follows prefers-color-scheme unless the toggle picked one; the choice
// is remembered in localStorage.

const KEY = "prism-theme";
const ORDER = ["auto", "light", "dark"];

function stored() {
  try {
    const value = localStorage.getItem(KEY);
    return ORDER.includes(value) ? value : "auto";
  } catch {
    return "auto";
  }
}

function apply(button, mode) {
  if (mode === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = mode;
  button.textContent = `Theme: ${mode}`;
  button.dataset.mode = mode;
}

export function initTheme(button) {
  let mode = stored();
  apply(button, mode);
  button.addEventListener("click", () => {
    mode = ORDER[(ORDER.indexOf(mode) + 1) % ORDER.length];
    try {
      localStorage.setItem(KEY, mode);
    } catch {
      // storage may be disabled; the choice then lasts for this page only
    }
    apply(button, mode);
  });
}
