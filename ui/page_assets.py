"""The chat page's own style sheet and script: passage and answer styling, [n] clicks, page zoom, phone sidebar.

Kept apart from ``ui.app`` (which wires the page) so the wiring reads top to bottom; ``ui.app.launch`` and the
server pass both to Gradio.
"""

from __future__ import annotations

__all__ = ["CSS", "HEAD"]

CSS = """
/* Gradio's HTML block sets overflow: visible on the same element; without !important the panel's last
   passages ran under the Settings and Add documents panels. */
#evidence { max-height: 640px; overflow-y: auto !important; }
.rag-passage { border-left: 3px solid var(--color-accent); padding: 6px 10px; margin: 8px 0;
  background: var(--background-fill-secondary); border-radius: 4px; scroll-margin-top: 12px; }
.rag-passage.rag-flash { outline: 2px solid var(--color-accent); }
.rag-uncited { border-left-color: var(--border-color-primary); opacity: 0.85; }
.rag-passage-head { font-size: 0.85em; color: var(--body-text-color-subdued); margin-bottom: 4px; }
.rag-n { font-weight: 700; color: var(--body-text-color); }
.rag-source { font-family: var(--font-mono); }
/* Passages and answers come as paragraphs and code blocks (ui.render.blocks_html): prose reflows to the panel's
   width, code keeps its lines and scrolls sideways rather than widening the page. */
.rag-passage-text p, .rag-answer p, .rag-refusal p { margin: 0 0 6px 0; }
.rag-passage-text p:last-child, .rag-answer p:last-child, .rag-refusal p:last-child { margin-bottom: 0; }
.rag-item { padding-left: 1em; text-indent: -1em; }
pre.rag-code { font-family: var(--font-mono); font-size: 0.9em; white-space: pre; overflow-x: auto; margin: 4px 0 6px;
  padding: 6px 8px; border-radius: 4px; background: var(--background-fill-primary);
  border: 1px solid var(--border-color-primary); }
.rag-passage-text code, .rag-answer code { font-family: var(--font-mono); font-size: 0.92em; }
/* Gradio's theme gives code its own colours, unreadable on the highlight's yellow in dark mode. */
mark code { color: inherit !important; background: transparent !important; }
/* Dark text on the yellow in both themes: dark mode's light body text on it was unreadable. */
.rag-passage-text mark, .rag-answer mark { background: #fde68a; color: #1c1917; padding: 0 1px; }
.rag-sources { margin-top: 6px; font-size: 0.9em; }
.rag-sources summary { cursor: pointer; color: var(--body-text-color-subdued); }
.rag-refusal { color: var(--body-text-color-subdued); font-style: italic; }
.rag-notice, .rag-rewrite { font-size: 0.85em; color: #92400e; margin-top: 6px; }
.rag-error { color: var(--error-text-color); }
.rag-unsupported { color: #92400e; font-size: 0.9em; }
a.rag-cite { text-decoration: none; font-weight: 600; cursor: pointer; }
.rag-page-number, .rag-section { font-weight: 600; color: var(--body-text-color); }
.rag-page summary { cursor: pointer; font-size: 0.85em; margin-top: 4px; }
.rag-page-image { max-width: 100%; border: 1px solid var(--border-color-primary); margin-top: 4px; cursor: zoom-in; }
/* A click shows the page as large as the window allows (the panel's width made it small); another closes it. */
.rag-page-image.rag-zoomed { position: fixed; inset: 0; z-index: 1000; width: 100vw; height: 100vh; max-width: none;
  margin: 0; object-fit: contain; background: rgba(0, 0, 0, 0.92); cursor: zoom-out; border: 0; }
"""

# A click on a [n] marker scrolls its passage into view and flashes it: in the evidence panel when the panel
# shows that answer's passages and sits beside the chat; otherwise (an older answer, or a narrow screen where
# the panel is far below) in the answer's own "Sources" block, opened for it.
HEAD = """
<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a[href^='#rag-passage-']");
  if (!link) return;
  event.preventDefault();
  const n = link.getAttribute("href").slice("#rag-passage-".length);
  const message = link.closest(".rag-message");
  const key = message && [...message.classList].find((c) => c.startsWith("rag-for-"));
  const panel = key && document.querySelector("#evidence ." + key);
  const wide = window.matchMedia("(min-width: 768px)").matches;
  let passage = null;
  if (panel && wide) {
    passage = panel.querySelector("#rag-passage-" + n);
  } else if (message) {
    const sources = message.querySelector("details.rag-sources");
    if (sources) { sources.open = true; passage = sources.querySelector(".rag-src-" + n); }
  } else {
    passage = document.getElementById("rag-passage-" + n);
  }
  if (!passage) return;
  passage.scrollIntoView({behavior: "smooth", block: "nearest"});
  passage.classList.add("rag-flash");
  setTimeout(() => passage.classList.remove("rag-flash"), 1500);
}, true);
document.addEventListener("click", (event) => {
  const image = event.target.closest && event.target.closest("img.rag-page-image");
  if (image) image.classList.toggle("rag-zoomed");
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") document.querySelectorAll(".rag-zoomed").forEach((e) => e.classList.remove("rag-zoomed"));
});
// Gradio's sidebar opens at every width, and on a phone it covers the whole chat and takes the taps meant
// for the question box and the [n] markers. Below 768 px it starts closed (its toggle still opens it).
(() => {
  if (!window.matchMedia("(max-width: 767px)").matches) return;
  // Gradio mounts the sidebar open and attaches its toggle's handler a moment later: press the toggle until
  // the sidebar is seen closed once (then stop, so a reader who opens it keeps it open), for 10 s at most.
  const started = Date.now();
  const timer = setInterval(() => {
    const bar = document.getElementById("conversations-sidebar");
    const toggle = bar && bar.querySelector(".toggle-button");
    if (toggle && !bar.classList.contains("open")) { clearInterval(timer); return; }
    if (toggle) toggle.click();
    if (Date.now() - started > 10000) clearInterval(timer);
  }, 150);
})();
</script>
"""
