// The page's recorder: what it saw, for the test to read through CDP.
window.__e2e = {
  scripts: {},  // name -> "load" | "error" (the <script> element's event)
  ran: {},      // name -> true when the vendor's script actually ran
  pixels: {},   // id -> {event: "load" | "error", width: naturalWidth}
  frames: {},   // id -> "load" when the iframe element fired load
  messages: {}, // id -> true when the widget inside the iframe posted to us
  cart: null,   // the first-party API's answer: cookie names it received
  beacon: null, // navigator.sendBeacon's return value
  fetch: null,  // "ok" | "error: ..." for the analytics fetch
  written: [],  // cookies this page wrote with document.cookie
  done: false,
  script(ev, name) { this.scripts[name] = ev.type; },
  pixel(ev) { this.pixels[ev.target.id] = {event: ev.type, width: ev.target.naturalWidth}; },
  frame(ev) { this.frames[ev.target.id] = ev.type; },
};
window.addEventListener("message", (ev) => {
  if (ev.origin === "https://www.facebook.com" && ev.data && ev.data.widget) {
    window.__e2e.messages[ev.data.widget] = true;
  }
});

// What a tag manager's first-party snippet does: write the analytics and
// Meta browser-id cookies when they are missing.
(function () {
  const has = (name) => document.cookie.split("; ").some((c) => c.startsWith(name + "="));
  const write = (name, value) => {
    document.cookie = name + "=" + value + "; Path=/; Max-Age=63072000; Secure; SameSite=Lax";
    window.__e2e.written.push(name);
  };
  if (!has("_ga")) write("_ga", "GA1.1.222222222.1700000000");
  if (!has("_fbp")) write("_fbp", "fb.1.1700000000000.333333333");
  if (!has("promo_seen")) write("promo_seen", "1");
})();
