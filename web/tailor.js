/* tailor.js: Tailor's storefront snippet: tracking, recommendation widgets,
 * search autocomplete, exit intent, A/B experiments. No build step, no
 * dependencies; user documentation in docs/storefront.md.
 *   <script async src="https://TAILOR/tailor.js" data-key="PUBLIC_KEY"></script>
 * - API base = this script's origin (data-api overrides). The public key in
 *   ?key= and text/plain bodies: no CORS preflight; sendBeacon on unload.
 * - One view per page load (product_view / category_view / page_view), sent
 *   when the page is first hidden, with dwell_ms (visible time) and
 *   scroll_depth (0..1); pending in sessionStorage, so the next page sends
 *   it if this one died. A back/forward-cache restore starts a new view.
 * - Other events: queued, flushed every FLUSH_MS, at BATCH_MAX and by beacon
 *   on page hide; random event_id each (retries are idempotent).
 * - Consent: data-consent="required" or Global Privacy Control = no storage,
 *   no events, no ids sent until tailor.consent({analytics:true}).
 * - Widget impression (once per render) and experiment exposure (once per
 *   experiment and page) at >= 50% visible; clicks carry the recommendation_id. */
(function (w, d) {
  'use strict';
  var old = w.tailor;
  if (old && old._loaded) return;

  var FLUSH_MS = 1000, BATCH_MAX = 20, QUEUE_MAX = 500, SESSION_MS = 30 * 60 * 1000,
    SUGGEST_DEBOUNCE_MS = 80, IDLE_MS = 30000, P = 'tailor_';
  var TYPES = ['for_you', 'similar', 'session', 'popular', 'trending', 'recently_viewed', 'bought_together',
    'also_bought', 'also_viewed', 'cart'];
  var NEED_ITEM = {similar: 1, bought_together: 1, also_bought: 1, also_viewed: 1};
  var NEED_USER = {session: 1, recently_viewed: 1, cart: 1};
  var REASONS = {for_you: 'Picked for you', similar: 'Similar item', session: 'Based on this visit',
    popular: 'Popular', trending: 'Trending now', recently_viewed: 'You viewed this',
    bought_together: 'Often bought together', also_bought: 'Customers also bought',
    also_viewed: 'Customers also viewed', cart: 'Goes with your cart'};

  var script = d.currentScript || d.querySelector('script[data-key][src*="tailor.js"]');
  var cfg = (script && script.dataset) || {};
  var KEY = cfg.key || '';
  var API = (cfg.api || (script && script.src ? new URL(script.src, location.href).origin : location.origin))
    .replace(/\/+$/, '');
  var gpc = navigator.globalPrivacyControl === true;
  var consentRequired = cfg.consent === 'required';
  var mem = {}; // storage when persistent storage is not allowed or available

  /* ---- storage: localStorage, cookie fallback; only when allowed ------- */
  function lsGet(k) { try { return w.localStorage.getItem(P + k); } catch (e) { return cookieGet(k); } }
  function cookieGet(k) {
    var m = d.cookie.match(new RegExp('(?:^|; )' + P + k + '=([^;]*)'));
    return m ? decodeURIComponent(m[1]) : null;
  }
  function cookieSet(k, v, days) {
    d.cookie = P + k + '=' + encodeURIComponent(v) + '; path=/; max-age=' + (days * 86400) + '; SameSite=Lax';
  }
  function lsSet(k, v) { try { w.localStorage.setItem(P + k, v); } catch (e) { cookieSet(k, v, 365); } }
  function lsDel(k) {
    try { w.localStorage.removeItem(P + k); } catch (e) { /* no storage */ }
    if (cookieGet(k) !== null) cookieSet(k, '', 0);
  }
  function ssGet(k) { try { return w.sessionStorage.getItem(P + k); } catch (e) { return null; } }
  function ssSet(k, v) { try { w.sessionStorage.setItem(P + k, v); } catch (e) { /* no storage */ } }
  function ssDel(k) { try { w.sessionStorage.removeItem(P + k); } catch (e) { /* no storage */ } }
  function get(k) { return canStore() ? lsGet(k) : (k in mem ? mem[k] : null); }
  function set(k, v) { if (canStore()) lsSet(k, v); else mem[k] = v; }
  function sget(k) { return canStore() ? ssGet(k) : (('s' + k) in mem ? mem['s' + k] : null); }
  function sset(k, v) { if (canStore()) ssSet(k, v); else mem['s' + k] = v; }
  function json(s, def) { try { return s ? JSON.parse(s) : def; } catch (e) { return def; } }

  /* ---- consent ---------------------------------------------------------- */
  var consent = json(lsGet('consent'), null); // {analytics, personalization} once given
  function allowed(what) {
    if (consent && typeof consent[what] === 'boolean') return consent[what];
    return !consentRequired && !gpc;
  }
  function canTrack() { return allowed('analytics') && !!KEY; }
  function canStore() { return allowed('analytics') || allowed('personalization'); }

  /* ---- ids -------------------------------------------------------------- */
  function uuid() {
    if (w.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    (w.crypto || {getRandomValues: function (a) { for (var i = 0; i < a.length; i++) a[i] = Math.random() * 256; return a; }})
      .getRandomValues(b);
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }
  function anonId(create) {
    var a = get('aid');
    if (!a && create) { a = 'a-' + uuid(); set('aid', a); }
    return a;
  }
  function sessionId() {
    var s = json(get('sess'), null), now = Date.now();
    if (!s || now - s.t > SESSION_MS) s = {id: 's-' + uuid(), t: now};
    s.t = now;
    set('sess', JSON.stringify(s));
    return s.id;
  }
  function userId() { return get('uid'); }
  var dev = null; // once per page (on unload the user agent may differ)
  function device() {
    return dev || (dev = /Mobi|Android|iPhone|iPad/i.test(navigator.userAgent) ||
      (w.matchMedia && matchMedia('(pointer:coarse)').matches && innerWidth < 1024) ? 'mobile' : 'desktop');
  }

  /* ---- event queue ------------------------------------------------------ */
  var queue = [], timer = 0;
  function build(type, fields) {
    var e = {type: type, event_id: uuid(), timestamp: Date.now(), anonymous_id: anonId(true),
      session_id: sessionId(), context: {url: location.href, referrer: d.referrer || null, device: device()}};
    var u = userId(); if (u) e.user_id = u;
    if (cfg.country) e.country = cfg.country;
    for (var k in fields) if (fields[k] != null) e[k] = fields[k];
    return e;
  }
  function enqueue(e) {
    if (queue.length >= QUEUE_MAX) queue.shift();
    queue.push(e);
    if (queue.length >= BATCH_MAX) flush();
    else if (!timer) timer = setTimeout(flush, FLUSH_MS);
  }
  function track(type, fields) {
    fields = fields || {};
    cartUpdate(type, fields);
    if (!canTrack()) return false;
    var f = {};
    for (var k in fields) if (k !== 'title') f[k] = fields[k]; // title only labels the exit-intent cart
    enqueue(build(type, f));
    return true;
  }
  function post(path, body, beacon) {
    var url = API + path + '?key=' + encodeURIComponent(KEY);
    if (beacon && navigator.sendBeacon) {
      try { if (navigator.sendBeacon(url, body)) return Promise.resolve(true); } catch (e) { /* fall back */ }
    }
    return fetch(url, {method: 'POST', body: body, keepalive: body.length < 60000, credentials: 'omit',
      headers: {'Content-Type': 'text/plain'}})
      .then(function (r) { return r.status < 500 || r.status === 501; }, function () { return false; });
  }
  function flush(beacon) {
    clearTimeout(timer); timer = 0;
    if (!queue.length || !canTrack()) return Promise.resolve();
    var batch = queue.splice(0, BATCH_MAX);
    var body = JSON.stringify(batch, function (k, v) { return k === '_try' ? undefined : v; });
    var p = post('/v1/events', body, beacon === true).then(function (ok) {
      if (!ok) { // 5xx or network: retry later with the same event ids
        batch = batch.filter(function (e) { e._try = (e._try || 0) + 1; return e._try < 4; });
        queue = batch.concat(queue);
        if (!timer && queue.length) timer = setTimeout(flush, FLUSH_MS * 3);
      }
    });
    if (!queue.length) return p;
    if (beacon === true) { flush(true); return p; } // page is going away: send everything now
    return p.then(function () { return flush(false); });
  }

  /* ---- page context and the view --------------------------------------- */
  function productFromLd() {
    var found = null;
    function walk(o) {
      if (!o || found || typeof o !== 'object') return;
      if (Array.isArray(o)) { o.forEach(walk); return; }
      var t = o['@type'];
      if (t === 'Product' || (Array.isArray(t) && t.indexOf('Product') >= 0)) {
        var id = o.sku || o.productID || o.mpn;
        if (id) {
          var off = Array.isArray(o.offers) ? o.offers[0] : o.offers || {};
          found = {item_id: String(id), title: o.name, price: num(off.price || off.lowPrice),
            currency: off.priceCurrency, category: typeof o.category === 'string' ? o.category : undefined};
          return;
        }
      }
      walk(o['@graph']);
    }
    d.querySelectorAll('script[type="application/ld+json"]').forEach(function (s) { walk(json(s.textContent, null)); });
    return found;
  }
  function num(v) { var n = parseFloat(v); return isFinite(n) && n >= 0 ? n : undefined; }
  function pageContext() {
    var el = d.querySelector('[data-tailor-item]');
    if (el) {
      var ds = el.dataset;
      return {type: 'product_view', item_id: ds.tailorItem, price: num(ds.tailorPrice), category: ds.tailorCategory,
        title: ds.tailorTitle, currency: ds.tailorCurrency};
    }
    var ld = productFromLd();
    if (ld) { ld.type = 'product_view'; return ld; }
    var pg = d.querySelector('[data-tailor-page]');
    var cat = d.querySelector('[data-tailor-category]');
    if (pg && pg.dataset.tailorPage === 'category' && cat) return {type: 'category_view', category: cat.dataset.tailorCategory};
    return {type: 'page_view'};
  }
  var page, view;
  function startView() {
    page = pageContext();
    view = {visibleSince: d.visibilityState === 'visible' ? performance.now() : -1, dwell: 0, scroll: 0, sent: false};
    measureScroll();
    var pending = json(sget('view'), null);
    if (pending && canTrack()) enqueue(pending);
    if (canTrack()) sset('view', JSON.stringify(viewEvent(false)));
  }
  function viewEvent(measured) {
    var f = {item_id: page.item_id, category: page.category, price: page.price};
    if (measured) {
      f.dwell_ms = Math.min(86400000, Math.round(view.dwell + (view.visibleSince >= 0 ? performance.now() - view.visibleSince : 0)));
      f.scroll_depth = Math.round(view.scroll * 100) / 100;
    }
    return build(page.type, f);
  }
  function measureScroll() {
    var de = d.documentElement, h = Math.max(de.scrollHeight, d.body ? d.body.scrollHeight : 0);
    var depth = h <= innerHeight ? 1 : (scrollY + innerHeight) / h;
    if (depth > view.scroll) view.scroll = Math.min(1, Math.max(0, depth));
  }
  function onHide() {
    if (!view) return; // not started yet (the DOM is still loading)
    if (view.visibleSince >= 0) { view.dwell += performance.now() - view.visibleSince; view.visibleSince = -1; }
    if (!view.sent && canTrack()) {
      view.sent = true;
      enqueue(viewEvent(true));
      ssDel('view');
    }
    flush(true);
  }
  d.addEventListener('visibilitychange', function () {
    if (d.visibilityState === 'hidden') onHide();
    else if (view && view.visibleSince < 0) view.visibleSince = performance.now();
  });
  w.addEventListener('pagehide', onHide);
  w.addEventListener('pageshow', function (e) { if (e.persisted) startView(); });
  w.addEventListener('scroll', function () { if (view) measureScroll(); }, {passive: true});

  /* ---- cart (for exit intent) ----------------------------------------- */
  function cart() { return json(get('cart'), []); }
  function cartUpdate(type, f) {
    if (type !== 'add_to_cart' && type !== 'remove_from_cart' && type !== 'purchase') return;
    var c = cart(), id = f.item_id, q = f.quantity || 1, i;
    if (type === 'purchase') c = [];
    for (i = 0; i < c.length && c[i].item_id !== id; i++);
    if (type === 'add_to_cart' && id) {
      if (i < c.length) c[i].quantity += q;
      else c.push({item_id: id, quantity: q, price: f.price, title: f.title || (page && page.item_id === id ? page.title : undefined),
        currency: f.currency});
    } else if (type === 'remove_from_cart' && i < c.length) {
      c[i].quantity -= q;
      if (c[i].quantity <= 0) c.splice(i, 1);
    }
    set('cart', JSON.stringify(c));
  }

  /* ---- declarative tracking (data attributes) ---------------------------- */
  d.addEventListener('click', function (e) {
    var b = e.target.closest && e.target.closest('[data-tailor-add-to-cart],[data-tailor-remove-from-cart]');
    if (!b) return;
    var ds = b.dataset, add = ds.tailorAddToCart !== undefined;
    track(add ? 'add_to_cart' : 'remove_from_cart', {item_id: add ? ds.tailorAddToCart : ds.tailorRemoveFromCart,
      quantity: num(ds.tailorQuantity) || 1, price: num(ds.tailorPrice), title: ds.tailorTitle});
  }, true);
  d.addEventListener('submit', function (e) {
    var f = e.target;
    if (!f || !f.matches || !(f.matches('form[data-tailor-search]') || f.querySelector('input[data-tailor-search]'))) return;
    var inp = f.querySelector('input[data-tailor-search],input[type=search],input[name=q],input[type=text]');
    var q = inp && inp.value.trim();
    if (q) track('search', {query: q.slice(0, 1000)});
  }, true);

  /* ---- HTML helpers ------------------------------------------------------ */
  var ESC = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'};
  function esc(s) { return s == null ? '' : String(s).replace(/[&<>"']/g, function (c) { return ESC[c]; }); }
  var fmts = {};
  function money(p, cur) {
    if (typeof p !== 'number') return '';
    cur = (cur || cfg.currency || 'EUR').toUpperCase();
    var loc = d.documentElement.lang || navigator.language || 'en';
    try {
      return (fmts[loc + cur] = fmts[loc + cur] || new Intl.NumberFormat(loc, {style: 'currency', currency: cur})).format(p);
    } catch (e) { return p.toFixed(2) + ' ' + cur; }
  }
  var CSS = ':where([data-tailor-widget]){display:block;min-height:var(--tailor-min-height)}[data-arm][hidden]{display:none!important}' +
    '.tailor-w{font-family:var(--tailor-font,inherit);color:var(--tailor-text,#1b1b1b);background:var(--tailor-bg,transparent);contain:layout}' +
    '.tailor-w h2{font-size:var(--tailor-title-size,1.25rem);margin:0 0 .75rem}' +
    '.tailor-list{list-style:none;margin:0;padding:0;display:grid;gap:var(--tailor-gap,16px);grid-template-columns:repeat(auto-fill,minmax(var(--tailor-card-width,170px),1fr))}' +
    '.tailor-card{display:flex;flex-direction:column;gap:.35rem;height:100%;box-sizing:border-box;padding:.6rem;border-radius:var(--tailor-radius,8px);background:var(--tailor-card-bg,#fff);border:1px solid var(--tailor-border,#e3e3e3);color:inherit;text-decoration:none}' +
    '.tailor-card:hover,.tailor-card:focus-visible{border-color:var(--tailor-accent,#0b5cad);outline:none;box-shadow:0 0 0 2px var(--tailor-accent,#0b5cad)}' +
    '.tailor-img{display:block;width:100%;height:auto;aspect-ratio:1;object-fit:cover;border-radius:calc(var(--tailor-radius,8px)/2);background:var(--tailor-muted-bg,#f2f2f2)}' +
    '.tailor-title{font-size:.9rem;line-height:1.3;overflow:hidden;display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical}' +
    '.tailor-price{font-weight:700;color:var(--tailor-accent,#0b5cad)}.tailor-reason{font-size:.75rem;color:var(--tailor-muted,#595959)}' +
    '@media (max-width:639px){.tailor-list{grid-template-columns:none;grid-auto-flow:column;grid-auto-columns:var(--tailor-card-width-mobile,42%);overflow-x:auto;scroll-snap-type:x mandatory;overscroll-behavior-x:contain;padding-bottom:.4rem}.tailor-list>li{scroll-snap-align:start}}' +
    '.tailor-ac{position:absolute;z-index:2147483000;list-style:none;margin:2px 0 0;padding:.25rem 0;background:var(--tailor-bg,#fff);color:var(--tailor-text,#1b1b1b);border:1px solid var(--tailor-border,#ccc);border-radius:var(--tailor-radius,8px);box-shadow:0 6px 24px rgba(0,0,0,.15);font-family:var(--tailor-font,inherit);max-height:60vh;overflow:auto}' +
    '.tailor-ac [role=option]{padding:.45rem .75rem;cursor:pointer;display:flex;justify-content:space-between;gap:1rem}' +
    '.tailor-ac [aria-selected=true]{background:var(--tailor-accent,#0b5cad);color:#fff}.tailor-ac .tailor-ac-h{padding:.3rem .75rem;font-size:.75rem;color:var(--tailor-muted,#595959)}' +
    '.tailor-back{position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:center;justify-content:center;z-index:2147483001;padding:1rem}' +
    '.tailor-dlg{background:var(--tailor-bg,#fff);color:var(--tailor-text,#1b1b1b);font-family:var(--tailor-font,inherit);border-radius:var(--tailor-radius,8px);max-width:28rem;width:100%;padding:1.25rem;box-sizing:border-box;position:relative;max-height:90vh;overflow:auto}' +
    '.tailor-dlg h2{margin:0 2rem .5rem 0;font-size:1.25rem}.tailor-dlg ul{padding-left:1.1rem}.tailor-offer{font-weight:700;color:var(--tailor-accent,#0b5cad)}' +
    '.tailor-x{position:absolute;top:.5rem;right:.5rem;border:0;background:none;font-size:1.5rem;line-height:1;cursor:pointer;color:inherit;padding:.25rem .5rem}' +
    '.tailor-cta{display:inline-block;margin-top:.75rem;padding:.6rem 1.1rem;border-radius:var(--tailor-radius,8px);background:var(--tailor-accent,#0b5cad);color:#fff;text-decoration:none;border:0;font:inherit;cursor:pointer}';
  function styles() {
    if (d.getElementById('tailor-css')) return;
    var s = d.createElement('style');
    s.id = 'tailor-css';
    s.textContent = CSS;
    (d.head || d.documentElement).appendChild(s);
  }

  /* ---- recommendations widgets ------------------------------------------ */
  var timings = [], seq = 0;
  function recsUrl(params, path) {
    var q = ['key=' + encodeURIComponent(KEY)];
    if (allowed('personalization')) {
      var u = userId(), a = anonId(false);
      if (u) params.user_id = u;
      if (a) params.anonymous_id = a;
    }
    if (cfg.country) params.country = cfg.country;
    var pg = d.querySelector('[data-tailor-page]');
    params.page_type = pg ? pg.dataset.tailorPage : page.type.slice(0, -5);
    for (var k in params) if (params[k] != null && params[k] !== '') q.push(k + '=' + encodeURIComponent(params[k]));
    return API + (path || '/v1/recommendations') + '?' + q.join('&');
  }
  function itemUrl(it, el, rid) {
    var u = it.url, tpl = (el && el.dataset.productUrl) || cfg.productUrl;
    if (!u && tpl) u = tpl.replace(/\{id\}/g, encodeURIComponent(it.id));
    if (!u) return '';
    try {
      var x = new URL(u, location.href);
      if (rid) x.searchParams.set('tl_rid', rid);
      return x.href;
    } catch (e) { return ''; }
  }
  function reasonText(r, type) { return REASONS[r && r.model] || REASONS[type] || ''; }
  function fill(tpl, v) {
    return tpl.replace(/\{\{\s*(\w+)\s*\}\}/g, function (m, k) { return k in v ? esc(v[k]) : ''; });
  }
  function cardHtml(it, i, el, rid, type, tpl) {
    var v = {id: it.id, title: it.title || it.id, price: money(it.price, it.currency), url: itemUrl(it, el, rid),
      image: it.image || '', reason: reasonText(it.reason, type), currency: it.currency || '', position: i + 1};
    var label = v.title + (v.price ? ', ' + v.price : '');
    var inner = tpl ? fill(tpl, v) :
      (v.image ? '<img class="tailor-img" src="' + esc(v.image) + '" alt="' + esc(v.title) + '" loading="lazy" width="300" height="300">'
        : '<span class="tailor-img" aria-hidden="true"></span>') +
      '<span class="tailor-title">' + esc(v.title) + '</span>' +
      (v.price ? '<span class="tailor-price">' + esc(v.price) + '</span>' : '') +
      (v.reason ? '<span class="tailor-reason">' + esc(v.reason) + '</span>' : '');
    var card = tpl ? inner : v.url ? '<a class="tailor-card" href="' + esc(v.url) + '" aria-label="' + esc(label) + '">' + inner + '</a>'
      : '<div class="tailor-card" role="group" aria-label="' + esc(label) + '">' + inner + '</div>';
    return '<li data-tailor-item-id="' + esc(it.id) + '" data-tailor-position="' + (i + 1) + '">' + card + '</li>';
  }
  var io = w.IntersectionObserver ? new IntersectionObserver(function (ents) {
    ents.forEach(function (en) {
      var half = en.intersectionRatio >= 0.5 ||
        (en.rootBounds && en.intersectionRect.height >= en.rootBounds.height * 0.5 && en.isIntersecting);
      if (!half) return;
      var el = en.target, r = el._tailor, x = el._tailorX;
      io.unobserve(el);
      if (x) exposed(x[0], x[1]);
      if (!r || r.seen) return;
      r.seen = true;
      track('recommendation_impression', {recommendation_id: r.rid, items: r.ids, x_widget: r.type});
      el.dispatchEvent(new CustomEvent('tailor:impression', {bubbles: true, detail: {recommendation_id: r.rid, items: r.ids}}));
    });
  }, {threshold: [0, 0.25, 0.5, 0.75, 1]}) : null;
  function render(el) {
    if (!el || !el.dataset) return Promise.resolve(null);
    var ds = el.dataset, type = ds.tailorWidget;
    if (TYPES.indexOf(type) < 0) return Promise.resolve(null);
    styles();
    var item = ds.item || (NEED_ITEM[type] && page && page.item_id) || undefined;
    var params = {type: type, limit: ds.limit || 8, item_id: item, category: ds.category, brand: ds.brand,
      exclude: ds.exclude, max_per_category: ds.maxPerCategory, min_price: ds.minPrice, max_price: ds.maxPrice};
    if (!NEED_ITEM[type] && page && page.item_id && !ds.exclude) params.exclude = page.item_id; // not the product on show
    if ((NEED_ITEM[type] && !item) || (NEED_USER[type] && !(allowed('personalization') && (userId() || anonId(false))))) {
      el.setAttribute('data-tailor-state', 'empty');
      return Promise.resolve(null);
    }
    var n = ++seq, token = {};
    el._tailorToken = token;
    el.setAttribute('data-tailor-state', 'loading');
    return fetch(recsUrl(params), {credentials: 'omit'}).then(function (r) {
      return r.ok ? r.json() : Promise.reject(new Error('HTTP ' + r.status));
    }).then(function (res) {
      if (el._tailorToken !== token) return null;
      var t0 = performance.now();
      performance.mark('tailor:response:' + n);
      var tplEl = ds.template && d.getElementById(ds.template);
      var tpl = tplEl && tplEl.innerHTML;
      var items = res.items || [], rid = res.recommendation_id;
      var hid = 'tailor-h-' + n, title = ds.title;
      el.innerHTML = items.length ? '<section class="tailor-w tailor-' + esc(type) + '"' +
        (title ? ' aria-labelledby="' + hid + '"><h2 id="' + hid + '">' + esc(title) + '</h2>' : ' aria-label="' + esc(REASONS[type]) + '">') +
        '<ul class="tailor-list" role="list">' +
        items.map(function (it, i) { return cardHtml(it, i, el, rid, type, tpl); }).join('') + '</ul></section>' : '';
      el.setAttribute('data-tailor-state', items.length ? 'ready' : 'empty');
      el.setAttribute('data-tailor-recommendation-id', rid || '');
      el._tailor = {rid: rid, type: type, ids: items.map(function (it) { return it.id; }), seen: false};
      performance.mark('tailor:rendered:' + n);
      timings.push({widget: type, ms: performance.now() - t0, id: n});
      if (items.length && io) { io.unobserve(el); io.observe(el); }
      el.dispatchEvent(new CustomEvent('tailor:render', {bubbles: true, detail: res}));
      return res;
    }).catch(function () {
      if (el._tailorToken === token) el.setAttribute('data-tailor-state', 'error');
      return null;
    });
  }
  d.addEventListener('click', function (e) {
    var li = e.target.closest && e.target.closest('[data-tailor-widget] li[data-tailor-item-id]');
    if (!li) return;
    var el = li.closest('[data-tailor-widget]'), r = el && el._tailor;
    if (r) track('recommendation_click', {recommendation_id: r.rid, item_id: li.getAttribute('data-tailor-item-id'),
      x_position: +li.getAttribute('data-tailor-position'), x_widget: r.type});
  }, true);

  /* ---- A/B experiments (one assignments request per page, none without an id) */
  var arms, seen = {};
  function experiment(id, cb) {
    var p = {}, u = recsUrl(p, '/v1/experiments/assignments');
    if (!arms && (p.anonymous_id || p.user_id)) {
      arms = fetch(u, {credentials: 'omit'}).then(function (r) { return r.json(); }).catch(function () { return {}; });
    }
    var x = Promise.resolve(arms).then(function (r) {
      return ((r && r.assignments || []).filter(function (a) { return a.experiment === id; })[0] || {}).arm || null;
    });
    if (cb) x.then(cb);
    return x;
  }
  function exposed(id, arm) {
    return !!id && !!arm && !seen[id] && (seen[id] = track('experiment_exposure', {experiment_id: '' + id, arm: '' + arm}));
  }
  function variants(el) {
    if (el._tailorV) return;
    el._tailorV = 1;
    styles();
    var id = el.dataset.tailorExperiment;
    experiment(id).then(function (arm) {
      var kids = el.querySelectorAll(':scope>[data-arm]'), on = el.querySelector(':scope>[data-arm-default]') || kids[0] || el;
      kids.forEach(function (c) { if (c.dataset.arm === arm) on = c; });
      kids.forEach(function (c) { c.hidden = c !== on; });
      el.setAttribute('data-tailor-arm', arm || '');
      if (arm && io) { on._tailorX = [id, arm]; io.observe(on); }
    });
  }

  /* ---- search autocomplete ---------------------------------------------- */
  // no /v1/search/suggest (404 or CORS failure): popular items for the session
  var popularCache = null, acSeq = 0;
  function noSuggest() { sset('nosuggest', '1'); }
  function suggest(q) {
    q = q.slice(0, 60); // the endpoint takes at most 200 bytes
    if (!sget('nosuggest')) {
      return fetch(API + '/v1/search/suggest?key=' + encodeURIComponent(KEY) + '&q=' + encodeURIComponent(q) + '&limit=6',
        {credentials: 'omit'}).then(function (r) {
        if (r.ok) return r.json();
        if (r.status === 404 || r.status === 405) { noSuggest(); return suggest(q); }
        return {queries: [], items: []};
      }, function () { noSuggest(); return suggest(q); });
    }
    if (!popularCache) {
      popularCache = fetch(recsUrl({type: 'popular', limit: 100}), {credentials: 'omit'})
        .then(function (r) { return r.ok ? r.json() : {items: []}; }, function () { return {items: []}; });
    }
    return popularCache.then(function (res) {
      var words = q.toLowerCase().split(/\s+/).filter(Boolean);
      var items = (res.items || []).filter(function (it) {
        var t = String(it.title || '').toLowerCase();
        return words.every(function (wd) { return t.indexOf(wd) >= 0; });
      });
      return {queries: [], items: (items.length ? items : []).slice(0, 6), fallback: true};
    });
  }
  function autocomplete(inp) {
    if (inp._tailorAc) return;
    inp._tailorAc = true;
    styles();
    var id = 'tailor-ac-' + (++seq), list = d.createElement('ul'), opts = [], active = -1, tmo = 0;
    list.id = id; list.className = 'tailor-ac'; list.setAttribute('role', 'listbox'); list.hidden = true;
    list.setAttribute('aria-label', inp.getAttribute('aria-label') || 'Suggestions');
    inp.setAttribute('role', 'combobox');
    inp.setAttribute('aria-autocomplete', 'list');
    inp.setAttribute('aria-expanded', 'false');
    inp.setAttribute('aria-controls', id);
    inp.setAttribute('autocomplete', 'off');
    inp.insertAdjacentElement('afterend', list);
    function close() {
      list.hidden = true; active = -1; opts = [];
      inp.setAttribute('aria-expanded', 'false');
      inp.removeAttribute('aria-activedescendant');
    }
    function mark(i) {
      opts.forEach(function (o, j) { o.el.setAttribute('aria-selected', j === i ? 'true' : 'false'); });
      active = i;
      if (i >= 0) { inp.setAttribute('aria-activedescendant', opts[i].el.id); opts[i].el.scrollIntoView({block: 'nearest'}); }
      else inp.removeAttribute('aria-activedescendant');
    }
    function choose(o) {
      if (o.item) {
        track('search', {query: inp.value.trim() || o.item.title});
        var u = itemUrl(o.item, inp, null);
        close();
        if (u) location.href = u;
      } else {
        inp.value = o.query;
        close();
        if (inp.form) { if (inp.form.requestSubmit) inp.form.requestSubmit(); else inp.form.submit(); }
        else track('search', {query: o.query});
      }
    }
    function okey(o) { return o ? (o.item ? 'i:' + o.item.id : 'q:' + o.query) : ''; }
    function show(res) {
      var h = '', n = 0, was = okey(opts[active]);
      opts = [];
      (res.queries || []).slice(0, 6).forEach(function (x) {
        opts.push({query: x.query});
        h += '<li role="option" id="' + id + '-' + n + '" aria-selected="false">' + esc(x.query) + '</li>'; n++;
      });
      var items = (res.items || []).slice(0, 6);
      if (items.length && res.fallback) h += '<li role="presentation" class="tailor-ac-h">Popular products</li>';
      items.forEach(function (it) {
        opts.push({item: it});
        h += '<li role="option" id="' + id + '-' + n + '" aria-selected="false"><span>' + esc(it.title || it.id) +
          '</span><span>' + esc(money(it.price, it.currency)) + '</span></li>'; n++;
      });
      if (!opts.length) { close(); return; }
      list.innerHTML = h;
      opts.forEach(function (o, j) { o.el = d.getElementById(id + '-' + j); });
      list.style.top = (inp.offsetTop + inp.offsetHeight) + 'px';
      list.style.left = inp.offsetLeft + 'px';
      list.style.minWidth = inp.offsetWidth + 'px';
      list.hidden = false; active = -1;
      inp.setAttribute('aria-expanded', 'true');
      // a late answer for the same text keeps the option the shopper moved to
      for (var j = 0; was && j < opts.length; j++) if (okey(opts[j]) === was) { mark(j); break; }
    }
    inp.addEventListener('input', function () {
      clearTimeout(tmo);
      var q = inp.value.trim();
      if (!q) { close(); return; }
      tmo = setTimeout(function () {
        var my = ++acSeq;
        suggest(q).then(function (res) { if (my === acSeq && inp.value.trim() === q) show(res); });
      }, SUGGEST_DEBOUNCE_MS);
    });
    inp.addEventListener('keydown', function (e) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        if (list.hidden || !opts.length) return;
        e.preventDefault();
        var n = opts.length;
        mark(e.key === 'ArrowDown' ? (active + 1) % n : (active - 1 + n) % n);
      } else if (e.key === 'Enter' && !list.hidden && active >= 0) {
        e.preventDefault();
        choose(opts[active]);
      } else if (e.key === 'Escape' && !list.hidden) {
        e.preventDefault();
        close();
      }
    });
    inp.addEventListener('blur', function () { setTimeout(close, 150); });
    list.addEventListener('mousedown', function (e) {
      var li = e.target.closest('[role=option]');
      if (!li) return;
      e.preventDefault();
      choose(opts[+li.id.slice(id.length + 1)]);
    });
  }

  /* ---- exit intent ------------------------------------------------------- */
  var exitCfg = null, exitArmed = false, idleTimer = 0, exitShown = false;
  function exitIntent(c) {
    exitCfg = c || {};
    if (exitCfg.cartItems) set('cart', JSON.stringify(exitCfg.cartItems.map(function (x) {
      return typeof x === 'string' ? {item_id: x, quantity: 1} : x;
    })));
    if (exitArmed) return;
    exitArmed = true;
    d.documentElement.addEventListener('mouseleave', function (e) {
      if (e.clientY <= 0 && device() === 'desktop') showExit('leave');
    });
    d.addEventListener('mouseout', function (e) {
      if (!e.relatedTarget && e.clientY <= 0 && device() === 'desktop') showExit('leave');
    });
    if (device() === 'mobile') {
      var pushed = false;
      var arm = function () {
        if (pushed) return;
        pushed = true;
        history.pushState({tailorExit: 1}, '', location.href);
      };
      ['touchstart', 'pointerdown', 'keydown'].forEach(function (t) { d.addEventListener(t, arm, {once: true, passive: true}); });
      w.addEventListener('popstate', function () {
        if (!pushed || (history.state && history.state.tailorExit)) return;
        if (!showExit('back')) history.back();
        pushed = false;
      });
      var idle = function () {
        clearTimeout(idleTimer);
        idleTimer = setTimeout(function () { showExit('idle'); }, exitCfg.idleMs || IDLE_MS);
      };
      ['touchstart', 'scroll', 'keydown', 'pointerdown'].forEach(function (t) { w.addEventListener(t, idle, {passive: true}); });
      idle();
    }
  }
  function showExit(why) {
    var c = exitCfg, items = cart();
    if (!c || exitShown || sget('exit_shown') || (!items.length && c.requireCart !== false)) return false;
    exitShown = true;
    sset('exit_shown', '1');
    styles();
    var prev = d.activeElement, back = d.createElement('div');
    back.className = 'tailor-back';
    back.innerHTML = '<div class="tailor-dlg" role="dialog" aria-modal="true" aria-labelledby="tailor-dlg-t" aria-describedby="tailor-dlg-m">' +
      '<button type="button" class="tailor-x" aria-label="Close">&times;</button>' +
      '<h2 id="tailor-dlg-t">' + esc(c.title || 'Before you go') + '</h2>' +
      '<p id="tailor-dlg-m">' + esc(c.message || 'You still have items in your cart.') + '</p>' +
      (items.length ? '<ul class="tailor-cart">' + items.map(function (x) {
        return '<li>' + esc(x.title || x.item_id) + (x.quantity > 1 ? ' &times; ' + esc(x.quantity) : '') +
          (typeof x.price === 'number' ? ' &ndash; ' + esc(money(x.price, x.currency)) : '') + '</li>';
      }).join('') + '</ul>' : '') +
      (c.offer ? '<p class="tailor-offer">' + esc(c.offer) + '</p>' : '') +
      '<a class="tailor-cta" href="' + esc(c.url || '/cart') + '">' + esc(c.cta || 'Go to cart') + '</a></div>';
    d.body.appendChild(back);
    var dlg = back.firstChild;
    function focusables() { return dlg.querySelectorAll('a[href],button,input,select,textarea,[tabindex]:not([tabindex="-1"])'); }
    function close() {
      back.remove();
      d.removeEventListener('keydown', key, true);
      if (prev && prev.focus) prev.focus();
      d.dispatchEvent(new CustomEvent('tailor:exit-intent-close'));
    }
    function key(e) {
      if (e.key === 'Escape') { e.preventDefault(); close(); return; }
      if (e.key !== 'Tab') return;
      var f = focusables(), first = f[0], last = f[f.length - 1];
      if (e.shiftKey && (d.activeElement === first || !dlg.contains(d.activeElement))) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && (d.activeElement === last || !dlg.contains(d.activeElement))) { e.preventDefault(); first.focus(); }
    }
    d.addEventListener('keydown', key, true);
    back.addEventListener('click', function (e) { if (e.target === back) close(); });
    dlg.querySelector('.tailor-x').addEventListener('click', close);
    focusables()[0].focus();
    d.dispatchEvent(new CustomEvent('tailor:exit-intent', {detail: {trigger: why, cart: items}}));
    return true;
  }

  /* ---- public API -------------------------------------------------------- */
  function identify(uid) {
    if (!uid || !canTrack()) return Promise.resolve(false);
    uid = String(uid);
    var a = anonId(true);
    // queued events first: the server merges the anonymous history on identify
    return flush().then(function () {
      set('uid', uid);
      return post('/v1/identify', JSON.stringify({anonymous_id: a, user_id: uid}), false);
    });
  }
  function setConsent(c) {
    c = c || {};
    var was = canTrack();
    consent = {analytics: !!c.analytics, personalization: c.personalization === undefined ? !!c.analytics : !!c.personalization};
    if (!consent.analytics && !consent.personalization) {
      queue = []; clearTimeout(timer); timer = 0; mem = {};
      ['aid', 'uid', 'sess', 'cart'].forEach(lsDel);
      ssDel('view'); ssDel('exit_shown');
    } else if (!consent.analytics) {
      queue = []; ssDel('view');
    }
    lsSet('consent', JSON.stringify(consent));
    if (!was && canTrack()) { anonId(true); sset('view', JSON.stringify(viewEvent(false))); }
  }
  function scan(root) {
    root = root || d;
    [[render, '[data-tailor-widget]'], [autocomplete, 'input[data-tailor-search]'], [variants, '[data-tailor-experiment]']].forEach(function (s) {
      if (root.matches && root.matches(s[1])) s[0](root);
      if (root.querySelectorAll) root.querySelectorAll(s[1] + ':not([data-tailor-state])').forEach(s[0]);
    });
  }
  var api = {
    _loaded: true,
    _timings: timings,
    version: '1',
    track: track,
    identify: identify,
    consent: setConsent,
    render: render,
    exitIntent: exitIntent,
    experiment: experiment,
    exposed: exposed,
    flush: function () { return flush(false); },
    cart: cart,
    ids: function () { return {anonymous_id: anonId(false), session_id: (json(get('sess'), {}) || {}).id || null, user_id: userId()}; },
    reset: function () { lsDel('uid'); lsDel('aid'); lsDel('sess'); lsDel('cart'); },
    push: function (args) {
      args = Array.prototype.slice.call(args);
      var f = api[args[0]];
      return typeof f === 'function' && args[0] !== 'push' ? f.apply(api, args.slice(1)) : undefined;
    }
  };

  function boot() {
    device();
    startView();
    if (cfg.tailorExitIntent !== undefined) exitIntent(json(cfg.tailorExitIntent, {}));
    var pending = Array.isArray(old) ? old.slice() : [];
    w.tailor = api;
    pending.forEach(function (a) { try { api.push(a); } catch (e) { /* a bad queued call must not stop the rest */ } });
    scan(d);
    if (w.MutationObserver) {
      new MutationObserver(function (muts) {
        muts.forEach(function (m) { m.addedNodes.forEach(function (n) { if (n.nodeType === 1) scan(n); }); });
      }).observe(d.documentElement, {childList: true, subtree: true});
    }
  }
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', boot); else boot();
})(window, document);
