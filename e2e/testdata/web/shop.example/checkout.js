// After the page has loaded: the analytics hits (a beacon and a fetch, as
// gtag.js sends them) and the shop's own API; then the page is done.
window.addEventListener("load", async () => {
  const e = window.__e2e;
  const hit = "https://www.google-analytics.com/g/collect?v=2&tid=G-E2ETEST1&cid=1.1&en=";
  e.beacon = navigator.sendBeacon(hit + "page_view", "en=page_view");
  try {
    await fetch(hit + "scroll", {method: "POST", mode: "no-cors", credentials: "include", body: "en=scroll"});
    e.fetch = "ok";
  } catch (err) {
    e.fetch = "error: " + err;
  }
  try {
    const r = await fetch("/api/cart", {credentials: "same-origin"});
    e.cart = await r.json();
  } catch (err) {
    e.cart = {error: String(err)};
  }
  // A widget that loaded has posted its message from its own process;
  // give it a moment to arrive (a blocked one never loads, nothing to wait for).
  for (let i = 0; i < 250 && e.frames.like === "load" && !e.messages.like; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  e.done = true;
});
