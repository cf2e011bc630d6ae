// A fake consent-management platform for consentproxy's tests (see
// index.html). It reads a choice the way real CMPs store it:
//   - OneTrust's OptanonConsent: a URL-encoded form whose groups field is
//     "C0001:1,C0002:0,..."; C0002 (performance) gates analytics, C0004
//     (targeting) advertising. Before any click OneTrust stores
//     interactionCount=0 and no OptanonAlertBoxClosed: no choice yet.
//   - else the IAB TCF v2 TC string in euconsent-v2: the core segment's
//     PurposesConsent bits (24 bits from bit 152); analytics needs purposes
//     1 and 8, advertising 1, 2, 3 and 4.
// No choice: the banner shows and no tag loads.
// It runs in a browser (fakeCMP.run) and under Node (module.exports), so
// that its reading can be tested without a browser.
(function (root) {
  'use strict';

  function readCookie(cookies, name) {
    var parts = String(cookies || '').split(';');
    for (var i = 0; i < parts.length; i++) {
      var p = parts[i].trim();
      var eq = p.indexOf('=');
      if (eq > 0 && p.slice(0, eq).trim() === name) {
        return p.slice(eq + 1).trim();
      }
    }
    return null;
  }

  // oneTrust returns {C0001: true, C0002: false, ...}, or null when the
  // cookie holds no choice.
  function oneTrust(cookies) {
    var v = readCookie(cookies, 'OptanonConsent');
    if (v === null) {
      return null;
    }
    var form = {};
    v.split('&').forEach(function (kv) {
      var eq = kv.indexOf('=');
      if (eq < 0) {
        return;
      }
      var key = decodeURIComponent(kv.slice(0, eq).replace(/\+/g, ' '));
      form[key] = decodeURIComponent(kv.slice(eq + 1).replace(/\+/g, ' '));
    });
    if (!form.groups) {
      return null;
    }
    var closed = readCookie(cookies, 'OptanonAlertBoxClosed') !== null;
    if (!closed && !(parseInt(form.interactionCount, 10) >= 1)) {
      return null;
    }
    var groups = {};
    form.groups.split(',').forEach(function (g) {
      var kv = g.split(':');
      if (kv.length === 2) {
        groups[kv[0]] = kv[1] === '1';
      }
    });
    return groups;
  }

  // tcPurposes returns the purposes with consent in a TC string's core
  // segment, or null when it does not decode.
  function tcPurposes(tc) {
    var core = String(tc).split('.')[0];
    var alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    var bits = '';
    for (var i = 0; i < core.length; i++) {
      var n = alphabet.indexOf(core[i]);
      if (n < 0) {
        return null;
      }
      bits += ('000000' + n.toString(2)).slice(-6);
    }
    var version = parseInt(bits.slice(0, 6), 2);
    var start = 152; // version 6, created 36, updated 36, cmp 12+12, screen 6, language 12, vendor list 12, policy 6, 2 flags, special features 12
    if (version !== 2 || bits.length < start + 24) {
      return null;
    }
    var out = [];
    for (var p = 0; p < 24; p++) {
      if (bits[start + p] === '1') {
        out.push(p + 1);
      }
    }
    return out;
  }

  function has(list, ids) {
    return ids.every(function (id) { return list.indexOf(id) >= 0; });
  }

  // decide reads document.cookie's text: which groups are granted and
  // whether the banner shows.
  function decide(cookies) {
    var groups = oneTrust(cookies);
    if (groups) {
      return { source: 'onetrust', banner: false, analytics: groups.C0002 === true, advertising: groups.C0004 === true };
    }
    var tc = readCookie(cookies, 'euconsent-v2');
    var purposes = tc === null ? null : tcPurposes(tc);
    if (purposes) {
      return { source: 'tcf', banner: false, analytics: has(purposes, [1, 8]), advertising: has(purposes, [1, 2, 3, 4]) };
    }
    return { source: 'none', banner: true, analytics: false, advertising: false };
  }

  // run applies the decision to a page: the banner, the tags, and the
  // outcome on <html> for a test to read.
  function run(doc, tags) {
    var d = decide(doc.cookie);
    var granted = [];
    ['analytics', 'advertising'].forEach(function (group) {
      if (d[group] && tags[group]) {
        granted.push(group);
        var s = doc.createElement('script');
        s.src = tags[group];
        s.async = true;
        s.setAttribute('data-tag', group);
        doc.head.appendChild(s);
      }
    });
    var banner = doc.getElementById('banner');
    if (banner) {
      banner.hidden = !d.banner;
    }
    var html = doc.documentElement;
    html.setAttribute('data-consent', granted.join(','));
    html.setAttribute('data-banner', d.banner ? 'shown' : 'hidden');
    html.setAttribute('data-source', d.source);
    return d;
  }

  var api = { decide: decide, run: run, tcPurposes: tcPurposes };
  if (typeof module !== 'undefined' && module.exports) {
    module.exports = api;
  } else {
    root.fakeCMP = api;
  }
})(this);
