// Copy buttons: `data-copy` names the element whose text goes to the clipboard. Without script the text
// is still there to select.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const label = button.firstChild.textContent;
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.firstChild.textContent = "Copied";
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.firstChild.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => { button.firstChild.textContent = label; }, 2000);
});

// Destructive forms ask first; without script they submit at once.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
