// Stand-in for the Google Publisher Tag: proves that it ran.
if (window.__e2e) {
  window.__e2e.gpt = true;
}
