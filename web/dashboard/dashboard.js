/* Tailor analytics dashboard.
 *
 * What it does: asks for the shop's secret key, keeps it in sessionStorage
 * (this tab only; never in localStorage, cookies or URLs), and renders the
 * admin API's answers:
 *   GET /v1/admin/kpis?from&to&by  KPI tiles, two daily charts, daily table,
 *                                   per-dimension performance table
 *   GET /v1/experiments             per-experiment arm tables, interval bars,
 *                                   SRM warning, plain-language verdict
 *   GET /v1/admin/search            top and zero-result queries
 *   GET /v1/admin/seasonal          seasonal products, out-of-season audit
 *   GET /v1/admin/segments          micro-segments: sizes, medians, categories,
 *                                   description and top products of each
 *   GET /v1/admin/train             model status (POST to train now)
 *   GET /v1/admin/stats             events by type, duplicates, rejected
 *
 * Invariants: every number on the page is a field of an API answer, or one
 * of these totals over the KPI "days" (documented in docs/dashboard.md):
 *   visitors = sum(days.visitors)  (a shopper counts once per day active)
 *   orders = sum(days.orders), revenue = sum(days.revenue)
 *   conversion rate = sum(days.converted) / sum(days.visitors)
 *   AOV = revenue / orders; recommendation revenue = sum(rows.revenue),
 *   its share = that / revenue (0 when a denominator is 0).
 * Numbers are formatted with Intl.NumberFormat in the browser's locale:
 * counts as integers, money with 2 decimals (the API has no currency
 * field), rates as percentages with 2 decimals, p-values with 3 decimals
 * ("< 0.001" below). Text from the API goes in via textContent only.
 *
 * Verdict of an arm against the control (first arm), in this order:
 *   SRM flagged                    -> "do not trust these results"
 *   no visitors in an arm          -> "no data yet"
 *   sequential p < 0.05            -> "<arm> beats/trails <control>: +x% (interval a..b)"
 *   p < 0.05 and both arms reached the planned sample size -> same, "at the planned sample size"
 *   otherwise                      -> "not significant yet" (+ how far from the planned sample size)
 * The sequential (always-valid) p-value is used because a dashboard is
 * looked at every day; the plain p-value only holds at a size fixed in
 * advance (docs/experiments.md). */
(function () {
  'use strict';

  var KEY_STORE = 'tailor.dashboard.key';
  var ALPHA = 0.05;
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  var fmtInt = new Intl.NumberFormat(undefined, {maximumFractionDigits: 0});
  var fmtMoney = new Intl.NumberFormat(undefined, {minimumFractionDigits: 2, maximumFractionDigits: 2});
  var fmtPct = new Intl.NumberFormat(undefined, {style: 'percent', minimumFractionDigits: 2, maximumFractionDigits: 2});
  var fmtPct0 = new Intl.NumberFormat(undefined, {style: 'percent', maximumFractionDigits: 0});
  var fmtDec1 = new Intl.NumberFormat(undefined, {minimumFractionDigits: 1, maximumFractionDigits: 1});
  var fmtDec3 = new Intl.NumberFormat(undefined, {minimumFractionDigits: 3, maximumFractionDigits: 3});
  var fmtBytes = new Intl.NumberFormat(undefined, {maximumFractionDigits: 1});
  var fmtSigned = new Intl.NumberFormat(undefined, {
    style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1, signDisplay: 'exceptZero'});
  var fmtSignedMoney = new Intl.NumberFormat(undefined, {
    minimumFractionDigits: 2, maximumFractionDigits: 2, signDisplay: 'exceptZero'});

  function num(v) { return typeof v === 'number' && isFinite(v) ? v : 0; }
  function int(v) { return fmtInt.format(num(v)); }
  function money(v) { return fmtMoney.format(num(v)); }
  function pct(v) { return fmtPct.format(num(v)); }
  function pct0(v) { return fmtPct0.format(num(v)); }
  /* null (e.g. an uplift when the control converted nobody) shows as a dash */
  function signedPct(v) { return v == null ? '–' : fmtSigned.format(num(v)); }
  function pval(v) { v = num(v); return v < 0.001 ? '< ' + fmtDec3.format(0.001) : fmtDec3.format(v); }
  /* "p = 0.123" or "p < 0.001" */
  function pIs(v) { v = num(v); return v < 0.001 ? 'p < ' + fmtDec3.format(0.001) : 'p = ' + fmtDec3.format(v); }
  function when(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, {dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC'}) + ' UTC';
  }
  function secs(v) { return fmtDec3.format(num(v)) + ' s'; }
  function bytes(v) {
    v = num(v);
    var units = ['B', 'KB', 'MB', 'GB'];
    var i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return fmtBytes.format(v) + ' ' + units[i];
  }
  function ratio(a, b) { return b ? a / b : 0; }

  /* ---------- DOM helpers ---------- */
  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] == null) continue;
        if (k === 'text') e.textContent = attrs[k];
        else if (k === 'class') e.className = attrs[k];
        else e.setAttribute(k, attrs[k]);
      }
    }
    (children || []).forEach(function (c) {
      if (c == null) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function showError(id, msg) {
    var n = $(id);
    if (!n) return;
    n.textContent = msg || '';
    n.hidden = !msg;
  }

  /* A table: cols = [{label, num: bool, get(row) -> string|Node, metric}] */
  function table(node, cols, rows, emptyText) {
    clear(node);
    var cap = el('caption', {class: 'sr-only', text: node.getAttribute('aria-label') || ''});
    if (cap.textContent) node.appendChild(cap);
    var tr = el('tr');
    cols.forEach(function (c) {
      tr.appendChild(el('th', {scope: 'col', class: c.num ? 'num' : null, text: c.label}));
    });
    node.appendChild(el('thead', null, [tr]));
    var body = el('tbody');
    if (!rows.length) {
      body.appendChild(el('tr', null, [el('td', {colspan: String(cols.length), class: 'empty', text: emptyText || 'No data.'})]));
    }
    rows.forEach(function (r, i) {
      var row = el('tr', {'data-row': String(i)});
      cols.forEach(function (c, j) {
        var v = c.get(r, i);
        var cell = el(j === 0 ? 'th' : 'td', {
          scope: j === 0 ? 'row' : null, class: c.num ? 'num' : null, 'data-metric': c.metric || null});
        if (v instanceof Node) cell.appendChild(v);
        else cell.textContent = v;
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
    node.appendChild(body);
    return node;
  }
  function wrapTable(label, testid) {
    var t = el('table', {class: 'num-table', 'aria-label': label, 'data-testid': testid || null});
    return {table: t, wrap: el('div', {class: 'table-wrap'}, [t])};
  }
  function tile(label, value, metric, hint) {
    return el('div', {class: 'tile', 'data-metric': metric}, [
      el('div', {class: 'tile-label', text: label}),
      el('div', {class: 'tile-value', text: value}),
      hint ? el('div', {class: 'tile-hint', text: hint}) : null,
    ]);
  }
  function dl(pairs, cls) {
    var d = el('dl', {class: 'facts ' + (cls || '')});
    pairs.forEach(function (p) {
      if (!p) return;
      d.appendChild(el('div', {class: 'fact', 'data-metric': p[2] || null}, [el('dt', {text: p[0]}), el('dd', {text: p[1]})]));
    });
    return d;
  }

  /* ---------- API ---------- */
  function ApiError(status, message, code) {
    this.status = status;
    this.message = message;
    this.code = code;
  }
  function getKey() {
    try { return sessionStorage.getItem(KEY_STORE) || ''; } catch (e) { return ''; }
  }
  function setKey(k) {
    try {
      if (k) sessionStorage.setItem(KEY_STORE, k);
      else sessionStorage.removeItem(KEY_STORE);
    } catch (e) { /* storage disabled: the key lives for this page only */ }
  }
  var memKey = '';

  function api(method, path, key) {
    return fetch(path, {
      method: method,
      headers: {Authorization: 'Bearer ' + (key || memKey), Accept: 'application/json'},
      cache: 'no-store',
      credentials: 'omit',
    }).then(function (res) {
      return res.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
        if (!res.ok) {
          var msg = body && body.error && body.error.message ? body.error.message : 'HTTP ' + res.status;
          throw new ApiError(res.status, msg, body && body.error && body.error.code);
        }
        if (body === null) throw new ApiError(res.status, 'the server answered something that is not JSON');
        return body;
      });
    }, function () {
      throw new ApiError(0, 'could not reach the Tailor server');
    });
  }
  function describe(err) {
    if (!(err instanceof ApiError)) return 'Something went wrong: ' + (err && err.message ? err.message : String(err));
    if (err.status === 401) return 'Your key was not accepted (' + err.message + '). Sign in again.';
    if (err.status === 403) return 'This key may not read this report (' + err.message + ').';
    if (err.status === 404) return 'This server does not offer this report yet (' + err.message + ').';
    if (err.status === 0) return 'Could not reach the Tailor server. Check that it is running, then press Refresh.';
    return 'The server answered ' + err.status + ': ' + err.message;
  }
  function loginMessage(err) {
    if (err instanceof ApiError) {
      if (err.status === 401) return 'That key was not accepted: it is not a key of this server. Check it and try again.';
      if (err.status === 403) {
        return 'That is a public (storefront) key. The dashboard needs the shop\'s secret key, created with ' +
          '"tailor keys create --scope secret".';
      }
      if (err.status === 0) return 'Could not reach the Tailor server. Check that it is running.';
      return 'The server answered ' + err.status + ': ' + err.message;
    }
    return 'Something went wrong: ' + String(err);
  }

  /* ---------- login ---------- */
  function showLogin(message) {
    $('app').hidden = true;
    $('session').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('key').setAttribute('aria-invalid', message ? 'true' : 'false');
    $('key').focus();
  }
  function onLogin(ev) {
    ev.preventDefault();
    var k = $('key').value.trim();
    if (!k) {
      $('login-error').textContent = 'Enter your shop\'s secret key.';
      $('key').setAttribute('aria-invalid', 'true');
      return;
    }
    var btn = $('login-submit');
    btn.disabled = true;
    $('login-error').textContent = '';
    /* check the key on the cheapest admin endpoint before keeping it */
    api('GET', '/v1/admin/train', k).then(function () {
      memKey = k;
      setKey(k);
      $('key').value = '';
      btn.disabled = false;
      openApp();
    }, function (err) {
      btn.disabled = false;
      showLogin(loginMessage(err));
    });
  }
  function logout() {
    memKey = '';
    setKey('');
    destroyCharts();
    showLogin('');
  }

  /* ---------- app ---------- */
  var state = {from: '', to: '', by: 'widget'};
  var charts = [];

  function isoDay(d) { return d.toISOString().slice(0, 10); }
  function setRange(days) {
    var to = new Date();
    var from = new Date(to.getTime() - (days - 1) * 86400000);
    $('from').value = isoDay(from);
    $('to').value = isoDay(to);
  }
  function openApp() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('session').hidden = false;
    $('vendor-missing').hidden = typeof window.uPlot === 'function';
    if (!$('from').value) setRange(30);
    loadAll();
  }
  function loadAll() {
    var jobs = [loadKpis(), loadExperiments(), loadSearch(), loadSeasonal(), loadSegments(), loadModels(), loadHealth()];
    return Promise.all(jobs).then(function () {
      $('loaded-at').textContent = 'Updated ' + new Date().toLocaleString();
      document.body.setAttribute('data-loaded', '1');
    });
  }
  /* Runs one report; a 401 (key revoked meanwhile) sends back to the login. */
  function report(path, errorId, render) {
    showError(errorId, '');
    return api('GET', path).then(render).catch(function (err) {
      if (err instanceof ApiError && err.status === 401) {
        logout();
        showLogin(loginMessage(err));
        return;
      }
      showError(errorId, describe(err));
      if (!(err instanceof ApiError)) console.warn(err); // eslint-disable-line no-console
    });
  }

  /* ---------- KPIs ---------- */
  function loadKpis() {
    state.from = $('from').value;
    state.to = $('to').value;
    state.by = $('by').value;
    var q = '/v1/admin/kpis?from=' + encodeURIComponent(state.from) + '&to=' + encodeURIComponent(state.to) +
      '&by=' + encodeURIComponent(state.by);
    document.body.removeAttribute('data-kpis');
    return report(q, 'overview-error', function (k) {
      renderKpis(k);
      document.body.setAttribute('data-kpis', '1');
    }).then(function () {
      if (!document.body.hasAttribute('data-kpis')) {
        clear($('kpi-tiles'));
        clear($('rows-table'));
        showError('widgets-error', $('overview-error').textContent);
      }
    });
  }
  function renderKpis(k) {
    var days = k.days || [];
    var rows = k.rows || [];
    var t = {visitors: 0, converted: 0, orders: 0, revenue: 0, rec: 0};
    days.forEach(function (d) {
      t.visitors += num(d.visitors);
      t.converted += num(d.converted);
      t.orders += num(d.orders);
      t.revenue += num(d.revenue);
    });
    rows.forEach(function (r) { t.rec += num(r.revenue); });
    $('range-label').textContent = k.from + ' to ' + k.to + ' (UTC days), ' + days.length + ' days';
    var tiles = clear($('kpi-tiles'));
    tiles.appendChild(tile('Visitors', int(t.visitors), 'visitors', 'each shopper once per day active'));
    tiles.appendChild(tile('Orders', int(t.orders), 'orders'));
    tiles.appendChild(tile('Revenue', money(t.revenue), 'revenue'));
    tiles.appendChild(tile('Conversion rate', pct(ratio(t.converted, t.visitors)), 'conversion_rate',
      int(t.converted) + ' converted'));
    tiles.appendChild(tile('Average order value', money(ratio(t.revenue, t.orders)), 'aov'));
    tiles.appendChild(tile('Revenue from recommendations', money(t.rec), 'rec_revenue',
      pct(ratio(t.rec, t.revenue)) + ' of revenue, last touch'));

    table($('days-table'), [
      {label: 'Day', get: function (d) { return d.day; }},
      {label: 'Visitors', num: true, metric: 'visitors', get: function (d) { return int(d.visitors); }},
      {label: 'Converted', num: true, metric: 'converted', get: function (d) { return int(d.converted); }},
      {label: 'Conversion rate', num: true, metric: 'conversion_rate', get: function (d) { return pct(d.conversion_rate); }},
      {label: 'Orders', num: true, metric: 'orders', get: function (d) { return int(d.orders); }},
      {label: 'Revenue', num: true, metric: 'revenue', get: function (d) { return money(d.revenue); }},
      {label: 'AOV', num: true, metric: 'aov', get: function (d) { return money(d.aov); }},
    ], days, 'No days in this range.');

    var byName = $('by').options[$('by').selectedIndex].text;
    $('by-label').textContent = byName.toLowerCase();
    table($('rows-table'), [
      {label: byName, get: function (r) { return r.key; }},
      {label: 'Impressions', num: true, metric: 'impressions', get: function (r) { return int(r.impressions); }},
      {label: 'Clicks', num: true, metric: 'clicks', get: function (r) { return int(r.clicks); }},
      {label: 'CTR', num: true, metric: 'ctr', get: function (r) { return pct(r.ctr); }},
      {label: 'Add-to-carts', num: true, metric: 'add_to_carts', get: function (r) { return int(r.add_to_carts); }},
      {label: 'Orders', num: true, metric: 'orders', get: function (r) { return int(r.orders); }},
      {label: 'Revenue', num: true, metric: 'revenue', get: function (r) { return money(r.revenue); }},
      {label: 'Assisted revenue', num: true, metric: 'assisted_revenue', get: function (r) { return money(r.assisted_revenue); }},
      {label: 'AOV', num: true, metric: 'aov', get: function (r) { return money(r.aov); }},
    ], rows, 'No recommendation activity in this range. Send recommendation_impression and recommendation_click events with the recommendation_id (docs/analytics.md).');
    var dn = $('dropped-note');
    dn.hidden = !k.dropped;
    dn.textContent = k.dropped ? int(k.dropped) + ' counts were left out because a limit was reached (docs/analytics.md, Limits).' : '';

    drawCharts(days);
  }

  /* ---------- charts (uPlot) ---------- */
  function destroyCharts() {
    charts.forEach(function (c) { c.plot.destroy(); });
    charts = [];
  }
  function chartWidth(node) { return Math.max(240, Math.floor(node.clientWidth || node.parentNode.clientWidth || 600)); }
  function drawCharts(days) {
    destroyCharts();
    var hosts = [$('chart-revenue'), $('chart-visitors')];
    if (typeof window.uPlot !== 'function') {
      hosts.forEach(function (h) {
        clear(h).appendChild(el('p', {class: 'chart-missing', text: 'Chart unavailable (chart library missing); see the daily table below.'}));
      });
      return;
    }
    var xs = days.map(function (d) { return Date.parse(d.day + 'T00:00:00Z') / 1000; });
    var col = function (f) { return days.map(function (d) { return num(d[f]); }); };
    var common = function (host, series, scales, axes) {
      clear(host);
      var opts = {
        width: chartWidth(host),
        height: 220,
        tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'); },
        scales: scales,
        series: [{label: 'Day', value: function (u, v) { return v == null ? '' : isoDay(new Date(v * 1000)); }}].concat(series),
        axes: axes,
        legend: {live: true},
        cursor: {drag: {x: false, y: false}},
      };
      return new window.uPlot(opts, [xs].concat(series.map(function (s) { return s._data; })), host);
    };
    var p1 = common(hosts[0], [
      {label: 'Revenue', scale: 'money', stroke: '#4f46e5', width: 2, fill: 'rgba(79,70,229,0.08)', _data: col('revenue'),
        value: function (u, v) { return v == null ? '' : money(v); }},
      {label: 'Orders', scale: 'count', stroke: '#0f9d76', width: 2, _data: col('orders'),
        value: function (u, v) { return v == null ? '' : int(v); }},
    ], {x: {time: true}, money: {range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.1 : 1]; }},
      count: {range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.1 : 1]; }}}, [
      {},
      {scale: 'money', values: function (u, vals) { return vals.map(function (v) { return fmtInt.format(v); }); }, size: 60},
      {scale: 'count', side: 1, grid: {show: false}, values: function (u, vals) { return vals.map(function (v) { return fmtInt.format(v); }); }},
    ]);
    var p2 = common(hosts[1], [
      {label: 'Visitors', scale: 'count', stroke: '#0369a1', width: 2, fill: 'rgba(3,105,161,0.08)', _data: col('visitors'),
        value: function (u, v) { return v == null ? '' : int(v); }},
      {label: 'Conversion rate', scale: 'rate', stroke: '#c2410c', width: 2, _data: col('conversion_rate'),
        value: function (u, v) { return v == null ? '' : pct(v); }},
    ], {x: {time: true}, count: {range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.1 : 1]; }},
      rate: {range: function (u, lo, hi) { return [0, hi > 0 ? Math.min(1, hi * 1.1) : 0.1]; }}}, [
      {},
      {scale: 'count', values: function (u, vals) { return vals.map(function (v) { return fmtInt.format(v); }); }, size: 60},
      {scale: 'rate', side: 1, grid: {show: false}, size: 60,
        values: function (u, vals) { return vals.map(function (v) { return fmtSigned.format(v).replace('+', ''); }); }},
    ]);
    charts = [{plot: p1, host: hosts[0]}, {plot: p2, host: hosts[1]}];
  }
  var resizeTimer = 0;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      charts.forEach(function (c) { c.plot.setSize({width: chartWidth(c.host), height: 220}); });
    }, 100);
  });

  /* ---------- experiments ---------- */
  function loadExperiments() {
    return report('/v1/experiments', 'experiments-error', renderExperiments);
  }
  function intervalText(lo, hi, f) { return f(lo) + ' to ' + f(hi); }
  function verdict(exp, arm, control) {
    var vs = arm.vs_control && arm.vs_control.conversion;
    if (exp.srm && exp.srm.flagged) return {cls: 'bad', text: 'Do not trust these results: the split of visitors between arms is broken (sample ratio mismatch).'};
    if (!vs || !num(arm.visitors) || !num(control.visitors)) {
      return {cls: 'neutral', text: arm.name + ' vs ' + control.name + ': no data yet (no exposed visitors in one of the arms).'};
    }
    var planned = exp.sample_size && exp.sample_size.visitors_per_arm;
    var reached = planned && num(arm.visitors) >= planned && num(control.visitors) >= planned;
    var seqSig = typeof vs.sequential_p_value === 'number' && vs.sequential_p_value < ALPHA;
    var fixedSig = reached && num(vs.p_value) < ALPHA;
    var hasUplift = vs.uplift != null;
    var effect = hasUplift ? signedPct(vs.uplift) + ' conversion (interval ' + signedPct(vs.uplift_lo) + ' to ' + signedPct(vs.uplift_hi) + ')' :
      fmtSignedMoney.format(num(vs.diff) * 100) + ' conversion points (the control converted nobody)';
    if (seqSig || fixedSig) {
      var better = num(vs.diff) > 0;
      return {
        cls: better ? 'good' : 'bad',
        text: arm.name + (better ? ' beats ' : ' trails ') + control.name + ': ' + effect +
          (seqSig ? ', sequential ' + pIs(vs.sequential_p_value) : ', ' + pIs(vs.p_value) + ' at the planned sample size') + '.',
      };
    }
    var more = planned ? Math.max(0, planned - Math.min(num(arm.visitors), num(control.visitors))) : 0;
    var leaning = num(vs.p_value) < ALPHA ?
      ' The plain p-value (' + pval(vs.p_value) + ') is below ' + fmtDec3.format(ALPHA).replace(/0+$/, '') + ', but it is only valid at the planned sample size: keep the experiment running.' : '';
    return {
      cls: 'neutral',
      text: arm.name + ' vs ' + control.name + ': not significant yet. ' + effect.charAt(0).toUpperCase() + effect.slice(1) +
        ', sequential ' + pIs(vs.sequential_p_value) + '.' + leaning +
        (planned ? (more ? ' About ' + int(more) + ' more visitors per arm reach the planned ' + int(planned) + '.' :
          ' The planned ' + int(planned) + ' visitors per arm are reached.') : ''),
    };
  }
  /* SVG bars: each arm's conversion rate with its 95% interval on one shared axis. */
  function intervalBars(exp) {
    var arms = exp.arms || [];
    var hi = 0;
    arms.forEach(function (a) { hi = Math.max(hi, num(a.conversion_rate_hi), num(a.conversion_rate)); });
    /* axis up to a round step above the largest value: steps of 1, 2 or 5 x 10^k */
    if (hi <= 0) hi = 0.01;
    var raw = hi / 4;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * mag; }).filter(function (s2) { return s2 >= raw; })[0];
    var nTicks = Math.ceil(hi / step);
    hi = step * nTicks;
    /* drawn at about its on-screen width, so the text keeps its size on phones */
    var W = Math.round(Math.min(640, Math.max(280, (document.documentElement.clientWidth || 640) - 90)));
    var rowH = 34, left = Math.min(90, Math.round(W * 0.22)), right = 20, top = 8;
    var H = top + arms.length * rowH + 26;
    var x = function (v) { return left + (W - left - right) * Math.max(0, Math.min(1, num(v) / hi)); };
    var ns = 'http://www.w3.org/2000/svg';
    var mk = function (tag, attrs, text) {
      var n = document.createElementNS(ns, tag);
      for (var k in attrs) n.setAttribute(k, attrs[k]);
      if (text != null) n.textContent = text;
      return n;
    };
    var svg = mk('svg', {viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'bars', role: 'img',
      'aria-label': 'Conversion rate per arm with 95% intervals: ' + arms.map(function (a) {
        return a.name + ' ' + pct(a.conversion_rate) + ' (' + intervalText(a.conversion_rate_lo, a.conversion_rate_hi, pct) + ')';
      }).join('; ')});
    var axisY = top + arms.length * rowH + 4;
    var tickFmt = new Intl.NumberFormat(undefined, {style: 'percent', maximumFractionDigits: Math.max(0, -Math.floor(Math.log10(step)) - 2)});
    for (var i = 0; i <= nTicks; i++) {
      var v = step * i;
      svg.appendChild(mk('line', {x1: x(v), x2: x(v), y1: top, y2: axisY, class: 'grid'}));
      svg.appendChild(mk('text', {x: x(v), y: axisY + 16, 'text-anchor': 'middle', class: 'tick'}, tickFmt.format(v)));
    }
    arms.forEach(function (a, i2) {
      var y = top + i2 * rowH + rowH / 2;
      svg.appendChild(mk('text', {x: left - 8, y: y + 4, 'text-anchor': 'end', class: 'arm-label'}, a.name));
      svg.appendChild(mk('rect', {x: x(a.conversion_rate_lo), y: y - 7, width: Math.max(1, x(a.conversion_rate_hi) - x(a.conversion_rate_lo)),
        height: 14, rx: 3, class: i2 === 0 ? 'ci ci-control' : 'ci'}));
      svg.appendChild(mk('line', {x1: x(a.conversion_rate), x2: x(a.conversion_rate), y1: y - 11, y2: y + 11, class: 'point'}));
    });
    return svg;
  }
  function renderExperiments(data) {
    var list = data.experiments || [];
    var body = clear($('experiments-body'));
    if (!list.length) {
      body.appendChild(el('p', {class: 'empty', text: 'No experiments yet. Define one with PUT /v1/experiments/{id} (docs/experiments.md).'}));
      return;
    }
    list.forEach(function (exp) {
      var arms = exp.arms || [];
      var control = arms[0] || {};
      var card = el('article', {class: 'exp card', 'data-experiment': exp.id});
      card.appendChild(el('div', {class: 'exp-head'}, [
        el('h3', {text: exp.name || exp.id}),
        el('span', {class: 'badge badge-' + (exp.status || 'draft'), text: exp.status || 'draft'}),
      ]));
      var def = exp.definition || {};
      card.appendChild(el('p', {class: 'muted small', text: 'id ' + exp.id + (def.start ? ' · from ' + when(def.start) : '') +
        (def.stop ? ' to ' + when(def.stop) : '') + ' · control: ' + (control.name || '?')}));
      if (exp.srm && exp.srm.flagged) {
        card.appendChild(el('p', {class: 'notice notice-error srm', role: 'alert',
          text: 'Sample ratio mismatch: the visitors per arm do not match the planned shares (chi-square ' +
            pIs(exp.srm.p_value) + '). Something (a bot, a redirect, a cache) is breaking the split; do not trust these results.'}));
      }
      var verdicts = el('ul', {class: 'verdicts'});
      arms.slice(1).forEach(function (a) {
        var v = verdict(exp, a, control);
        verdicts.appendChild(el('li', {class: 'verdict verdict-' + v.cls, 'data-arm': a.name, text: v.text}));
      });
      card.appendChild(verdicts);

      var facts = [['Visitors in the experiment', int(exp.units), 'units'],
        ['Sample ratio check', (exp.srm && exp.srm.flagged ? 'failed' : 'ok') + ', ' + pIs(exp.srm && exp.srm.p_value), 'srm']];
      if (exp.sample_size) {
        facts.push(['Planned visitors per arm', int(exp.sample_size.visitors_per_arm), 'visitors_per_arm']);
        facts.push(['to detect', signedPct(exp.sample_size.relative_mde) + ' change of ' + pct(exp.sample_size.baseline_rate) +
          ' with ' + fmtPct0.format(num(exp.sample_size.power)) + ' power', 'mde']);
      }
      if (exp.units_dropped) facts.push(['Visitors not tracked (limit)', int(exp.units_dropped), 'units_dropped']);
      card.appendChild(dl(facts));

      var t = wrapTable('Arms of ' + (exp.name || exp.id), 'arms');
      table(t.table, [
        {label: 'Arm', get: function (a, i) { return a.name + (i === 0 && a.name !== 'control' ? ' (control)' : ''); }},
        {label: 'Share', num: true, metric: 'share', get: function (a) { return pct(a.share); }},
        {label: 'Visitors', num: true, metric: 'visitors', get: function (a) { return int(a.visitors); }},
        {label: 'Conversions', num: true, metric: 'conversions', get: function (a) { return int(a.conversions); }},
        {label: 'Conversion rate', num: true, metric: 'conversion_rate', get: function (a) { return pct(a.conversion_rate); }},
        {label: '95% interval', num: true, metric: 'conversion_interval',
          get: function (a) { return intervalText(a.conversion_rate_lo, a.conversion_rate_hi, pct); }},
        {label: 'Orders', num: true, metric: 'orders', get: function (a) { return int(a.orders); }},
        {label: 'Revenue', num: true, metric: 'revenue', get: function (a) { return money(a.revenue); }},
        {label: 'AOV', num: true, metric: 'aov', get: function (a) { return money(a.aov); }},
        {label: 'Revenue / visitor', num: true, metric: 'revenue_per_visitor', get: function (a) { return money(a.revenue_per_visitor); }},
        {label: 'Rec. CTR', num: true, metric: 'rec_ctr', get: function (a) { return pct(a.rec_ctr); }},
        {label: 'Add-to-cart rate', num: true, metric: 'add_to_cart_rate', get: function (a) { return pct(a.add_to_cart_rate); }},
        {label: 'Bounce rate', num: true, metric: 'bounce_rate', get: function (a) { return pct(a.bounce_rate); }},
      ], arms, 'No arms.');
      card.appendChild(t.wrap);
      card.appendChild(el('figure', {class: 'bars-fig'}, [
        el('figcaption', {class: 'small muted', text: 'Conversion rate per arm: the bar is the 95% interval, the line the measured rate.'}),
        intervalBars(exp)]));

      var cmp = arms.slice(1).filter(function (a) { return a.vs_control; });
      if (cmp.length) {
        var c = wrapTable('Each arm against ' + control.name, 'vs-control');
        table(c.table, [
          {label: 'Arm vs ' + control.name, get: function (a) { return a.name; }},
          {label: 'Conversion uplift', num: true, metric: 'uplift', get: function (a) { return signedPct(a.vs_control.conversion.uplift); }},
          {label: 'Uplift interval', num: true, metric: 'uplift_interval',
            get: function (a) { return intervalText(a.vs_control.conversion.uplift_lo, a.vs_control.conversion.uplift_hi, signedPct); }},
          {label: 'p-value', num: true, metric: 'p_value', get: function (a) { return pval(a.vs_control.conversion.p_value); }},
          {label: 'Sequential p', num: true, metric: 'sequential_p_value', get: function (a) { return pval(a.vs_control.conversion.sequential_p_value); }},
          {label: 'Revenue / visitor uplift', num: true, metric: 'rpv_uplift', get: function (a) { return rpv(a) ? signedPct(rpv(a).uplift) : '–'; }},
          {label: 'RPV p-value', num: true, metric: 'rpv_p_value', get: function (a) { return rpv(a) ? pval(rpv(a).p_value) : '–'; }},
          {label: 'CUPED p-value', num: true, metric: 'cuped_p_value',
            get: function (a) { return rpv(a) && rpv(a).cuped ? pval(rpv(a).cuped.p_value) : '–'; }},
          {label: 'Incremental revenue', num: true, metric: 'incremental_revenue', get: function (a) {
            var ir = rpv(a) && rpv(a).incremental_revenue;
            return ir ? fmtSignedMoney.format(num(ir.value)) + ' (' + fmtSignedMoney.format(num(ir.lo)) + ' to ' + fmtSignedMoney.format(num(ir.hi)) + ')' : '–';
          }},
        ], cmp);
        card.appendChild(el('h4', {text: 'Against the control'}));
        card.appendChild(c.wrap);
        card.appendChild(el('p', {class: 'small muted', text: 'Sequential p-values stay valid when you look every day; the plain p-value only at a sample size fixed in advance. ' +
          'Incremental revenue is the extra revenue of the arm\'s visitors over what the control\'s rate would have made (the ROI), with its 95% interval.'}));
      }
      body.appendChild(card);
    });
  }
  function rpv(a) { return a.vs_control && a.vs_control.revenue_per_visitor; }

  /* ---------- search ---------- */
  function loadSearch() {
    return report('/v1/admin/search?limit=20', 'search-error', function (s) {
      var body = clear($('search-body'));
      var idx = s.index || {};
      var an = s.analytics || {};
      body.appendChild(dl([
        ['Products indexed', int(idx.products), 'products'],
        ['Index size', bytes(idx.bytes), 'bytes'],
        ['Language', idx.language || '–', 'language'],
        ['Queries tracked', int(an.queries_tracked), 'queries_tracked'],
      ]));
      body.appendChild(el('h3', {text: 'Top queries'}));
      var top = wrapTable('Top search queries', 'top-queries');
      table(top.table, [
        {label: 'Query', get: function (r) { return r.query; }},
        {label: 'Searches', num: true, metric: 'searches', get: function (r) { return int(r.searches); }},
        {label: 'Clicked searches', num: true, metric: 'clicked_searches', get: function (r) { return int(r.clicked_searches); }},
        {label: 'CTR', num: true, metric: 'ctr', get: function (r) { return pct(r.ctr); }},
        {label: 'Clicks', num: true, metric: 'clicks', get: function (r) { return int(r.clicks); }},
        {label: 'Carts', num: true, metric: 'carts', get: function (r) { return int(r.carts); }},
        {label: 'Purchases', num: true, metric: 'purchases', get: function (r) { return int(r.purchases); }},
        {label: 'Zero results', num: true, metric: 'zero_results', get: function (r) { return int(r.zero_results); }},
      ], an.top || [], 'No searches yet.');
      body.appendChild(top.wrap);
      body.appendChild(el('h3', {text: 'Searches that found nothing'}));
      body.appendChild(el('p', {class: 'small muted', text: 'Add synonyms or products for these (docs/search.md).'}));
      var zero = wrapTable('Zero-result queries', 'zero-queries');
      table(zero.table, [
        {label: 'Query', get: function (r) { return r.query; }},
        {label: 'Searches', num: true, metric: 'searches', get: function (r) { return int(r.searches); }},
        {label: 'Without results', num: true, metric: 'zero_results', get: function (r) { return int(r.zero_results); }},
      ], an.zero_results || [], 'Every search found something.');
      body.appendChild(zero.wrap);
      if (an.queries_dropped) body.appendChild(el('p', {class: 'small muted', text: int(an.queries_dropped) + ' queries not tracked (limit reached).'}));
    });
  }

  /* ---------- seasonal ---------- */
  function season(months) { return (months || []).map(function (m) { return MONTHS[(m - 1) % 12] || String(m); }).join(', '); }
  function loadSeasonal() {
    return report('/v1/admin/seasonal?limit=50', 'seasonal-error', function (s) {
      var body = clear($('seasonal-body'));
      var se = s.seasonal || {};
      var au = s.audit || {};
      if (se.history_ok === false) {
        body.appendChild(el('p', {class: 'notice notice-warn', text: 'Not enough sales history to judge seasons (' + int(se.history_days) +
          ' days; every calendar month is needed). No product is called seasonal yet.'}));
      }
      body.appendChild(dl([
        ['Seasonal products', int(se.seasonal) + ' of ' + int(se.items_with_sales) + ' with sales', 'seasonal'],
        ['Sales history', int(se.history_days) + ' days', 'history_days'],
        ['Recommendations audited', int(au.served), 'served'],
        ['Shown out of season', int(au.out_of_season) + ' (' + pct(au.share) + ')', 'out_of_season'],
      ]));
      body.appendChild(el('h3', {text: 'Out of season recommendations'}));
      body.appendChild(el('p', {class: 'small muted', text: 'Of the last ' + int(s.audit_window) + ' recommended items shoppers were shown: the seasonal ones shown outside their season, by product and widget.'}));
      var a = wrapTable('Out-of-season recommendations', 'audit');
      table(a.table, [
        {label: 'Product', get: function (r) { return r.item; }},
        {label: 'Season', get: function (r) { return season(r.season); }},
        {label: 'Out of season', num: true, metric: 'out_of_season', get: function (r) { return int(r.out_of_season); }},
        {label: 'Widgets', get: function (r) {
          return (r.widgets || []).map(function (w) { return w.widget + ' ' + int(w.count); }).join(', ');
        }},
      ], au.items || [], 'No seasonal product was recommended out of its season.');
      body.appendChild(a.wrap);
      body.appendChild(el('h3', {text: 'Seasonal products'}));
      var p = wrapTable('Seasonal products', 'seasonal-items');
      table(p.table, [
        {label: 'Product', get: function (r) { return r.item; }},
        {label: 'Season', get: function (r) { return season(r.season); }},
        {label: 'Share in season', num: true, metric: 'share', get: function (r) { return pct(r.share); }},
        {label: 'Units sold', num: true, metric: 'units', get: function (r) { return int(r.units); }},
      ], se.items || [], 'No seasonal products.');
      body.appendChild(p.wrap);
      if (num(se.seasonal) > (se.items || []).length) {
        body.appendChild(el('p', {class: 'small muted', text: 'Showing ' + int((se.items || []).length) + ' of ' + int(se.seasonal) + '.'}));
      }
    });
  }

  /* ---------- segments ---------- */
  function loadSegments() {
    return report('/v1/admin/segments', 'segments-error', function (g) {
      var body = clear($('segments-body'));
      if (g.status !== 'trained') {
        body.appendChild(el('p', {class: 'notice', 'data-testid': 'segments-none',
          text: 'No segments yet: they are formed at the next training run, once at least 8 shoppers have history.'}));
        return;
      }
      body.appendChild(dl([
        ['Segments', int(g.k), 'k'],
        ['Shoppers in segments', int(g.shoppers), 'shoppers'],
        ['New visitors (too little history)', int(g.new_visitors), 'new_visitors'],
        ['Formed', when(g.trained_at), 'trained_at'],
        ['Separation (silhouette, -1 to 1)', fmtDec3.format(num(g.silhouette)), 'silhouette'],
      ]));
      var segs = g.segments || [];
      var w = wrapTable('Segments', 'segments');
      table(w.table, [
        {label: 'Segment', get: function (r) { return r.name; }},
        {label: 'Shoppers', num: true, metric: 'shoppers', get: function (r) { return int(r.shoppers); }},
        {label: 'Share', num: true, metric: 'share', get: function (r) { return pct(r.share); }},
        {label: 'Median orders', num: true, metric: 'orders', get: function (r) { return fmtDec1.format(num(r.medians.orders)); }},
        {label: 'Median spend', num: true, metric: 'spend', get: function (r) { return money(r.medians.spend); }},
        {label: 'Days since active', num: true, metric: 'days', get: function (r) { return int(r.medians.days_since_active); }},
        {label: 'Top categories', metric: 'categories', get: function (r) {
          return (r.categories || []).slice(0, 3).map(function (c) { return c.category + ' ' + pct0(c.share); }).join(', ');
        }},
      ], segs, 'No segments.');
      body.appendChild(w.wrap);
      segs.forEach(function (sg) {
        var d = el('details', {class: 'segment', 'data-segment': sg.id}, [
          el('summary', {text: sg.name + ' (' + int(sg.shoppers) + ')'}),
          el('p', {class: 'small', 'data-metric': 'description', text: sg.description}),
        ]);
        var t = wrapTable('Top products of ' + sg.name, 'top-' + sg.id);
        table(t.table, [
          {label: 'Product', get: function (r) { return r.title || r.item_id; }},
          {label: 'Shoppers', num: true, metric: 'shoppers', get: function (r) { return int(r.shoppers); }},
          {label: 'Share of segment', num: true, metric: 'share', get: function (r) { return pct(r.share); }},
          {label: 'Lift', num: true, metric: 'lift', get: function (r) { return fmtDec1.format(num(r.lift)) + '×'; }},
        ], sg.top_products || [], 'No product stands out.');
        d.appendChild(t.wrap);
        body.appendChild(d);
      });
    });
  }

  /* ---------- models ---------- */
  function loadModels() {
    return report('/v1/admin/train', 'models-error', renderModels);
  }
  function renderModels(t) {
    var body = clear($('models-body'));
    var snap = t.snapshot;
    var stateText = t.state + (t.state !== 'idle' && t.phase ? ' (' + t.phase + ', ' + pct(t.progress) + ')' : '');
    if (t.last_error) body.appendChild(el('p', {class: 'notice notice-error', role: 'alert', text: 'Last training failed: ' + t.last_error + ' (the previous models stay in service).'}));
    if (t.last_warning) body.appendChild(el('p', {class: 'notice notice-warn', text: 'Warning from the last training: ' + t.last_warning}));
    body.appendChild(dl([
      ['State', stateText, 'state'],
      ['Last trained', snap ? when(snap.trained_at) : 'never', 'trained_at'],
      ['Training took', snap ? secs(snap.seconds) : '–', 'seconds'],
      ['Runs since start', int(t.runs_since_start), 'runs'],
      ['Retrains every', t.schedule_interval_s ? int(t.schedule_interval_s) + ' s (when new events arrived)' : 'never (scheduled training off)', 'interval'],
      snap ? ['Trained on', int(snap.items) + ' items, ' + int(snap.shoppers) + ' shoppers, ' + int(snap.interactions) + ' interactions, ' +
        int(snap.sessions) + ' sessions, ' + int(snap.orders) + ' orders', 'trained_on'] : null,
    ]));
    if (!snap) {
      body.appendChild(el('p', {class: 'empty', text: 'No models yet: press Train now, or wait for the scheduled training.'}));
      return;
    }
    var v = snap.validation;
    if (v) {
      body.appendChild(el('h3', {text: 'Offline check'}));
      body.appendChild(el('p', {class: 'small muted', text: 'Before serving, each shopper\u2019s latest order or clicks were hidden, the models were trained on the rest, and asked for 10 products: ' +
        'how often one of the hidden products was among them (hit rate) and how high (NDCG), over ' + int(v.cases) + ' shoppers.'}));
      body.appendChild(dl([
        ['Blend (served as for you): hit rate @10', pct(v.hr10), 'val_hr10'],
        ['Blend: NDCG@10', fmtDec3.format(num(v.ndcg10)), 'val_ndcg10'],
      ]));
      var vt = wrapTable('Offline check per source', 'validation');
      table(vt.table, [
        {label: 'Source', get: function (r) { return r.name; }},
        {label: 'Weight in the blend', num: true, metric: 'weight', get: function (r) { return fmtDec1.format(num(r.weight)); }},
        {label: 'Hit rate @10', num: true, metric: 'hr10', get: function (r) { return pct(r.hr10); }},
        {label: 'NDCG@10', num: true, metric: 'ndcg10', get: function (r) { return fmtDec3.format(num(r.ndcg10)); }},
      ], v.sources || [], 'No sources.');
      body.appendChild(vt.wrap);
    }
    var m = wrapTable('Models', 'models');
    table(m.table, [
      {label: 'Model', get: function (r) { return r.name; }},
      {label: 'Training time', num: true, metric: 'seconds', get: function (r) { return secs(r.seconds); }},
      {label: 'Memory', num: true, metric: 'bytes', get: function (r) { return bytes(r.bytes); }},
      {label: 'Bytes per item', num: true, metric: 'bytes_per_item', get: function (r) { return fmtDec1.format(num(r.bytes_per_item)); }},
    ], snap.models || [], 'No models.');
    body.appendChild(m.wrap);
  }
  var trainPoll = 0;
  function trainNow() {
    var btn = $('train-now');
    btn.disabled = true;
    showError('models-error', '');
    api('POST', '/v1/admin/train').then(function (t) {
      renderModels(t);
      clearInterval(trainPoll);
      trainPoll = setInterval(function () {
        api('GET', '/v1/admin/train').then(function (s) {
          renderModels(s);
          if (s.state === 'idle') { clearInterval(trainPoll); btn.disabled = false; }
        }, function (err) { clearInterval(trainPoll); btn.disabled = false; showError('models-error', describe(err)); });
      }, 1000);
    }, function (err) {
      btn.disabled = false;
      showError('models-error', describe(err));
    });
  }

  /* ---------- data health ---------- */
  function loadHealth() {
    return report('/v1/admin/stats', 'health-error', function (s) {
      var body = clear($('health-body'));
      var ev = s.events || {};
      $('shop-label').textContent = 'Shop ' + s.shop_id;
      body.appendChild(dl([
        ['Events stored', int(ev.total), 'events_total'],
        ['Duplicates ignored', int(s.duplicates_since_start) + ' since the server started', 'duplicates'],
        ['Rejected', int(s.rejected_since_start) + ' since the server started', 'rejected'],
        ['Items', int(s.items), 'items'],
        ['Customers', int(s.customers), 'customers'],
        ['Orders', int(s.orders), 'orders'],
        ['Returns', int(s.returns), 'returns'],
        ['Profiles in memory', int(s.profiles_in_memory) + ' (' + bytes(s.profile_bytes_in_memory) + ', ' + int(s.bytes_per_profile) + ' bytes each)', 'profiles'],
      ]));
      if (num(s.rejected_since_start)) {
        body.appendChild(el('p', {class: 'small muted', text: 'Rejected events were answered with a 400 naming the bad field; this server does not keep the reasons. See your sender\'s logs.'}));
      }
      var types = Object.keys(ev.by_type || {}).map(function (k) { return {type: k, n: num(ev.by_type[k])}; })
        .sort(function (a, b) { return b.n - a.n || (a.type < b.type ? -1 : 1); });
      var max = types.reduce(function (m, r) { return Math.max(m, r.n); }, 0);
      body.appendChild(el('h3', {text: 'Events by type'}));
      var t = wrapTable('Events by type', 'events-by-type');
      table(t.table, [
        {label: 'Type', get: function (r) { return r.type; }},
        {label: 'Events', num: true, metric: 'count', get: function (r) { return int(r.n); }},
        {label: 'Share', get: function (r) {
          var w = max ? Math.round(100 * r.n / max) : 0;
          var bar = el('span', {class: 'hbar', 'aria-hidden': 'true'});
          bar.style.width = w + '%';
          return el('span', {class: 'hbar-track'}, [bar]);
        }},
      ], types, 'No events yet.');
      body.appendChild(t.wrap);
      var recs = s.recommendations || {};
      var rt = Object.keys(recs).map(function (k) { var r = recs[k]; r._type = k; return r; });
      body.appendChild(el('h3', {text: 'Recommendations since the server started'}));
      var r = wrapTable('Recommendations by type', 'recs-by-type');
      table(r.table, [
        {label: 'Type', get: function (x) { return x._type; }},
        {label: 'Served', num: true, metric: 'served', get: function (x) { return int(x.served); }},
        {label: 'Impressions', num: true, metric: 'impressions', get: function (x) { return int(x.impressions); }},
        {label: 'Clicks', num: true, metric: 'clicks', get: function (x) { return int(x.clicks); }},
        {label: 'CTR', num: true, metric: 'ctr', get: function (x) { return pct(x.ctr); }},
        {label: 'Attributed lines', num: true, metric: 'attributed_lines', get: function (x) { return int(x.attributed_lines); }},
        {label: 'Attributed revenue', num: true, metric: 'attributed_revenue', get: function (x) { return money(x.attributed_revenue); }},
      ], rt, 'No recommendations served yet.');
      body.appendChild(r.wrap);
    });
  }

  /* ---------- wiring ---------- */
  function init() {
    $('login-form').addEventListener('submit', onLogin);
    $('logout').addEventListener('click', logout);
    $('refresh').addEventListener('click', function () { loadAll(); });
    $('train-now').addEventListener('click', trainNow);
    $('range-form').addEventListener('submit', function (e) {
      e.preventDefault();
      if ($('from').value && $('to').value && $('from').value > $('to').value) {
        showError('overview-error', 'The start date is after the end date.');
        return;
      }
      loadKpis();
    });
    $('by').addEventListener('change', function () { state.by = $('by').value; loadKpis(); });
    Array.prototype.forEach.call(document.querySelectorAll('[data-days]'), function (b) {
      b.addEventListener('click', function () {
        setRange(Number(b.getAttribute('data-days')));
        loadKpis();
      });
    });
    var saved = getKey();
    if (!saved) { showLogin(''); return; }
    memKey = saved;
    api('GET', '/v1/admin/train', saved).then(openApp, function (err) {
      memKey = '';
      setKey('');
      showLogin(err instanceof ApiError && err.status === 401 ? 'Your saved key is no longer accepted. Sign in again.' : loginMessage(err));
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
