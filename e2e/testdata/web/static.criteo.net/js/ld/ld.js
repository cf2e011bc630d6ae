// Stand-in for Criteo's OneTag loader: proves that it ran.
window.__e2e.ran.criteo = true;
