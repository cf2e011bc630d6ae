// Stand-in for the Meta Pixel base code: proves that it ran.
window.__e2e.ran.fbevents = true;
