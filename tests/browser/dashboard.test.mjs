// Browser tests of the analytics dashboard (web/dashboard/, served at /dashboard).
//
// A real `tailor serve` over a fresh database is seeded through the API:
// the 30-item synthetic shop and its order history (lib/shopdata.mjs), then
// recommendation requests (for_you, similar, popular) with impressions,
// clicks, add-to-carts and purchases carrying their recommendation ids,
// searches (one that finds nothing) followed by product views, three
// experiments (one exposed through for_you answers, one with a large effect
// sent as backdated storefront exposures, one with a broken split), one
// duplicate and one rejected event, and a training run. The test then reads
// every admin report from the API itself and checks that what the page
// shows, at desktop 1280x800 and phone 390x844, is exactly those numbers
// formatted with Intl.NumberFormat (en-US, the browser's locale here):
// KPI tiles (totals over "days"), the daily table, the per-widget table and
// the dimension switch, experiment arm rows, p-values and verdicts, model
// names and sizes, events by type, duplicates/rejected, top and zero-result
// queries, seasonal figures; plus wrong-key / public-key login errors,
// session persistence, log out, no console errors, and a clear message when
// the chart library (web/dashboard/vendor/, made by scripts/build-web) is
// missing. Screenshots: tests/browser/artifacts/dashboard-*.png.
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {startTailor, launchBrowser, newPage, assertNoErrors, shot, until, REPO} from './lib/harness.mjs';
import {shopItems, shopEvents} from './lib/shopdata.mjs';

const LOCALE = 'en-US';
const DAY = 86400000;
const VENDOR = path.join(REPO, 'web', 'dashboard', 'vendor', 'uPlot.iife.min.js');

// Formatting as the page must do it (independent of dashboard.js).
const F = {
  int: (v) => new Intl.NumberFormat(LOCALE, {maximumFractionDigits: 0}).format(v),
  money: (v) => new Intl.NumberFormat(LOCALE, {minimumFractionDigits: 2, maximumFractionDigits: 2}).format(v),
  pct: (v) => new Intl.NumberFormat(LOCALE, {style: 'percent', minimumFractionDigits: 2, maximumFractionDigits: 2}).format(v),
  signed: (v) => v == null ? '–' :
    new Intl.NumberFormat(LOCALE, {style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1, signDisplay: 'exceptZero'}).format(v),
  p: (v) => (v < 0.001 ? '< 0.001' : v.toFixed(3)),
  pIs: (v) => (v < 0.001 ? 'p < 0.001' : `p = ${v.toFixed(3)}`),
  secs: (v) => v.toFixed(3) + ' s',
  dec1: (v) => new Intl.NumberFormat(LOCALE, {minimumFractionDigits: 1, maximumFractionDigits: 1}).format(v),
  dec3: (v) => new Intl.NumberFormat(LOCALE, {minimumFractionDigits: 3, maximumFractionDigits: 3}).format(v),
  pct0: (v) => new Intl.NumberFormat(LOCALE, {style: 'percent', maximumFractionDigits: 0}).format(v),
};

let t;
let browser;
const A = {}; // API answers the page is checked against

/** Products with a season: S3 sells in June and July only (a garden
 * lantern), S2 every month (so the history covers every calendar month),
 * over the 13 months before now; plus catalog entries for both. */
function seasonalShop(now) {
  const items = [
    {id: 'S2', title: 'Tea light refill', price: 3.5, currency: 'EUR', category: 'Home > Candles', brand: 'Lumen'},
    {id: 'S3', title: 'Garden lantern', price: 14, currency: 'EUR', category: 'Garden > Lights', brand: 'Lumen'},
  ];
  const events = [];
  const start = new Date(now - 400 * DAY);
  for (let m = 0; m < 14; m++) {
    const d = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + m, 10, 12));
    if (d.getTime() > now - DAY) break;
    const month = d.getUTCMonth() + 1;
    events.push({type: 'purchase', user_id: `season-${m}`, order_id: `season-s2-${m}`, timestamp: d.getTime(),
      items: [{item_id: 'S2', quantity: 6, price: 3.5}]});
    const lantern = month === 6 || month === 7 ? 8 : m === 0 || m === 13 ? 1 : 0; // first and last sales span > 300 days
    for (let k = 0; k < lantern; k++) {
      events.push({type: 'purchase', user_id: `season-${m}-${k}`, order_id: `season-s3-${m}-${k}`, timestamp: d.getTime() + k * 3600000,
        items: [{item_id: 'S3', quantity: 4, price: 14}]});
    }
  }
  return {items, events};
}

async function ok(r, what) {
  assert.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status} ${r.body.slice(0, 300)}`);
  return r.json;
}

async function arm(exp, anon) {
  const r = await ok(await t.api('GET', `/v1/experiments/assignments?anonymous_id=${anon}`, {key: t.publicKey}), 'assignments');
  const a = r.assignments.find((x) => x.experiment === exp);
  return a ? a.arm : null;
}

/** Seed everything the dashboard shows, through the API. */
async function seed() {
  const now = Date.now();
  const api = t.api;
  await ok(await api('PUT', '/v1/experiments/pers-1', {body: {
    name: 'Personalization on vs off', status: 'running', salt: 'dash-pers-1',
    start: new Date(now - 3 * DAY).toISOString(), layer: 'home', layer_start: 0, layer_end: 5000,
    arms: [{name: 'off', share: 0.5, changes: {personalization: false}}, {name: 'on', share: 0.5}]}}), 'PUT pers-1');
  await ok(await api('PUT', '/v1/experiments/banner-1', {body: {
    name: 'Winter banner', status: 'running', salt: 'dash-banner-1',
    start: new Date(now - 10 * DAY).toISOString(),
    arms: [{name: 'control', share: 0.5}, {name: 'banner', share: 0.5, changes: {campaign: 'winter-banner'}}]}}), 'PUT banner-1');
  await ok(await api('PUT', '/v1/experiments/broken-1', {body: {
    name: 'Broken split', status: 'running', salt: 'dash-broken-1',
    start: new Date(now - 10 * DAY).toISOString(), layer: 'footer',
    arms: [{name: 'a', share: 0.5}, {name: 'b', share: 0.5, changes: {campaign: 'footer-b'}}]}}), 'PUT broken-1');

  const ev = [];
  const dev = (u) => (u % 3 === 0 ? 'mobile' : 'desktop');
  // Recommendations shown, clicked, carted and bought (attributed widgets).
  // The answers come first (a for_you answer exposes the shopper to
  // pers-1), the shopper's events just after them.
  const shown = [];
  for (let u = 0; u < 90; u++) {
    const anon = `dash-${u}`;
    const kind = u % 3 === 0 ? 'for_you' : u % 3 === 1 ? 'similar&item_id=P1' : 'popular';
    const rec = await ok(await api('GET', `/v1/recommendations?type=${kind}&anonymous_id=${anon}&limit=4`, {key: t.publicKey}), 'recs');
    shown.push(rec);
  }
  const tRec = Date.now() + 1000;
  shown.forEach((rec, u) => {
    const anon = `dash-${u}`;
    const sess = `${anon}-s1`;
    const rid = rec.recommendation_id;
    const items = rec.items.map((x) => x.id);
    if (u % 3 === 0) items.push('S3'); // the garden lantern shown in November: out of season
    const ctx = {placement: u % 2 ? 'home_hero' : 'product_page', device: dev(u)};
    const t0 = tRec + u * 100;
    ev.push({type: 'recommendation_impression', anonymous_id: anon, session_id: sess, recommendation_id: rid, items, context: ctx, timestamp: t0});
    if (u % 2 === 0 && items.length) {
      const item = items[u % items.length];
      ev.push({type: 'recommendation_click', anonymous_id: anon, session_id: sess, recommendation_id: rid, item_id: item, context: ctx, timestamp: t0 + 10});
      if (u % 4 === 0) {
        ev.push({type: 'add_to_cart', anonymous_id: anon, session_id: sess, item_id: item, quantity: 1, price: 7.25, timestamp: t0 + 20});
        ev.push({type: 'purchase', anonymous_id: anon, session_id: sess, order_id: `dash-o-${u}`, timestamp: t0 + 30,
          items: [{item_id: item, quantity: 1 + (u % 3), price: 7.25}]});
      }
    }
  });
  // Searches (the server records them itself), then product views = clicks.
  const queries = ['candle', 'candle', 'beeswax', 'holder', 'umbrela stand'];
  for (let u = 0; u < 40; u++) {
    const anon = `dash-q-${u}`;
    const q = queries[u % queries.length];
    const s = await ok(await api('GET', `/v1/search?q=${encodeURIComponent(q)}&anonymous_id=${anon}`, {key: t.publicKey}), 'search');
    if (u % 2 === 0 && s.total > 0) ev.push({type: 'product_view', anonymous_id: anon, item_id: s.items[0].id});
  }
  // banner-1: 3000 storefront-sent exposures over the last 6 days; the
  // banner converts 12% against 5%, enough for the always-valid test.
  const anons = Array.from({length: 3000}, (_, u) => `dash-b-${u}`);
  const arms = [];
  for (let i = 0; i < anons.length; i += 100) {
    arms.push(...(await Promise.all(anons.slice(i, i + 100).map((a) => arm('banner-1', a)))));
  }
  const bought = {control: 0, banner: 0};
  const seen = {control: 0, banner: 0};
  anons.forEach((anon, u) => {
    const a = arms[u];
    const te = now - 6 * DAY + u * 150000;
    ev.push({type: 'experiment_exposure', anonymous_id: anon, experiment_id: 'banner-1', arm: a, timestamp: te});
    seen[a]++;
    if (bought[a] < seen[a] * (a === 'banner' ? 0.12 : 0.05)) {
      bought[a]++;
      ev.push({type: 'purchase', anonymous_id: anon, order_id: `dash-b-o-${u}`, timestamp: te + 3600000,
        items: [{item_id: `P${1 + (u % 9)}`, quantity: 1, price: 12.5}]});
    }
  });
  assert.ok(seen.control > 1000 && seen.banner > 1000, 'banner-1 splits shoppers');
  // broken-1: only a few "b" shoppers get exposed: sample ratio mismatch.
  let nbA = 0;
  let nbB = 0;
  for (let u = 0; u < 120; u++) {
    const anon = `dash-x-${u}`;
    const a = await arm('broken-1', anon);
    if (a === 'b' && nbB >= 8) continue;
    if (a === 'a') nbA++;
    if (a === 'b') nbB++;
    if (a) ev.push({type: 'experiment_exposure', anonymous_id: anon, experiment_id: 'broken-1', arm: a, timestamp: now - 5 * DAY + u * 60000});
  }
  assert.ok(nbA > 40, 'broken-1 exposed arm a');
  await ok(await api('POST', '/v1/events', {body: ev}), 'POST events');
  // One duplicate (same event_id twice) and one rejected event.
  const dup = {type: 'page_view', anonymous_id: 'dash-dup', event_id: 'dash-dup-1', context: {url: '/'}};
  await ok(await api('POST', '/v1/events', {body: dup}), 'first of duplicate');
  await ok(await api('POST', '/v1/events', {body: dup}), 'duplicate');
  const bad = await api('POST', '/v1/events', {body: {type: 'page_view'}});
  assert.equal(bad.status, 400, 'an event without a shopper id is rejected');

  await ok(await api('POST', '/v1/admin/train', {}), 'train');
  const done = await until(async () => {
    const r = await api('GET', '/v1/admin/train');
    return r.json && r.json.state === 'idle' && r.json.snapshot && r.json.runs_since_start >= 1 ? r.json : null;
  }, 60000, 200);
  assert.ok(done, 'training finished');
}

before(async () => {
  const season = seasonalShop(Date.now());
  t = await startTailor({items: [...shopItems('http://shop.test'), ...season.items], events: [...shopEvents(), ...season.events]});
  await seed();
  for (const [k, p] of Object.entries({
    experiments: '/v1/experiments', search: '/v1/admin/search?limit=20', seasonal: '/v1/admin/seasonal?limit=50',
    train: '/v1/admin/train', stats: '/v1/admin/stats', segments: '/v1/admin/segments',
  })) A[k] = await ok(await t.api('GET', p), p);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (t) await t.stop();
});

/** Open the dashboard; `got` collects the JSON answers of the API the page
 * itself received (by path), so what is on screen is compared with exactly
 * what the page was sent. */
async function open(viewport, opts = {}) {
  const {context, page, errors} = await newPage(browser, viewport, {
    contextOptions: {locale: LOCALE, timezoneId: 'UTC'}, ignore: opts.ignore || []});
  const got = {};
  page.on('response', async (res) => {
    const u = new URL(res.url());
    if (!u.pathname.startsWith('/v1/') || res.request().method() !== 'GET' || res.status() !== 200) return;
    try {
      got[u.pathname] = await res.json();
    } catch {
      /* body gone (navigation) */
    }
  });
  await page.goto(`${t.base}/dashboard`);
  return {context, page, errors, got};
}

/** The page's answer for path, checked against the test's own fetch on the
 * fields that cannot change between the two (no events arrive meanwhile). */
function answers(got) {
  const P = {
    experiments: got['/v1/experiments'], search: got['/v1/admin/search'], seasonal: got['/v1/admin/seasonal'],
    train: got['/v1/admin/train'], stats: got['/v1/admin/stats'], segments: got['/v1/admin/segments'],
  };
  for (const [k, v] of Object.entries(P)) assert.ok(v, `the page fetched ${k}`);
  const armsOf = (x) => x.experiments.map((e) => [e.id, e.units, e.srm.flagged, e.arms.map((a) => [a.name, a.visitors, a.conversions, a.orders, a.revenue])]);
  assert.deepEqual(armsOf(P.experiments), armsOf(A.experiments), 'experiments: page and test got the same arms');
  assert.deepEqual(P.stats.events, A.stats.events, 'stats: same event counts');
  assert.deepEqual(P.search.analytics, A.search.analytics, 'search: same analytics');
  assert.deepEqual(P.seasonal, A.seasonal, 'seasonal: same report');
  assert.deepEqual(P.train.snapshot, A.train.snapshot, 'train: same snapshot');
  assert.deepEqual(P.segments, A.segments, 'segments: same report');
  return P;
}

async function login(page, key) {
  await page.fill('#key', key);
  await page.click('#login-submit');
}

const text = (loc) => loc.innerText().then((s) => s.trim());

/** Check the cells of table rows against API rows: cols maps data-metric -> formatter(row). */
async function checkTable(page, tableSel, rows, keyOf, cols, what) {
  const trs = page.locator(`${tableSel} tbody tr`);
  assert.equal(await trs.count(), Math.max(1, rows.length), `${what}: row count`);
  for (let i = 0; i < rows.length; i++) {
    const tr = trs.nth(i);
    assert.equal(await text(tr.locator('th').first()), keyOf(rows[i]), `${what}: row ${i} key`);
    for (const [m, f] of Object.entries(cols)) {
      assert.equal(await text(tr.locator(`[data-metric="${m}"]`)), f(rows[i]), `${what}: row ${i} (${keyOf(rows[i])}) ${m}`);
    }
  }
}

async function checkKpis(page, what) {
  const from = await page.inputValue('#from');
  const to = await page.inputValue('#to');
  const by = await page.inputValue('#by');
  const k = await ok(await t.api('GET', `/v1/admin/kpis?from=${from}&to=${to}&by=${by}`), 'kpis');
  const sum = (f) => k.days.reduce((s, d) => s + d[f], 0);
  const visitors = sum('visitors');
  const converted = sum('converted');
  const orders = sum('orders');
  const revenue = sum('revenue');
  const rec = k.rows.reduce((s, r) => s + r.revenue, 0);
  assert.ok(orders > 0 && revenue > 0 && visitors > 0, `${what}: seeded KPIs are not empty`);
  assert.ok(k.rows.length >= 2 && rec > 0, `${what}: seeded rows`);
  const tileVal = (m) => text(page.locator(`#kpi-tiles [data-metric="${m}"] .tile-value`));
  assert.equal(await tileVal('visitors'), F.int(visitors), `${what}: visitors tile`);
  assert.equal(await tileVal('orders'), F.int(orders), `${what}: orders tile`);
  assert.equal(await tileVal('revenue'), F.money(revenue), `${what}: revenue tile`);
  assert.equal(await tileVal('conversion_rate'), F.pct(converted / visitors), `${what}: conversion tile`);
  assert.equal(await tileVal('aov'), F.money(revenue / orders), `${what}: aov tile`);
  assert.equal(await tileVal('rec_revenue'), F.money(rec), `${what}: recommendation revenue tile`);
  await checkTable(page, '#rows-table', k.rows, (r) => r.key, {
    impressions: (r) => F.int(r.impressions), clicks: (r) => F.int(r.clicks), ctr: (r) => F.pct(r.ctr),
    add_to_carts: (r) => F.int(r.add_to_carts), orders: (r) => F.int(r.orders), revenue: (r) => F.money(r.revenue),
    assisted_revenue: (r) => F.money(r.assisted_revenue), aov: (r) => F.money(r.aov),
  }, `${what} rows by ${by}`);
  // daily table (inside <details>; its text is in the DOM even when closed)
  const days = page.locator('#days-table tbody tr');
  assert.equal(await days.count(), k.days.length, `${what}: one row per day`);
  for (let i = 0; i < k.days.length; i++) {
    const d = k.days[i];
    const cells = await days.nth(i).locator('th, td').allTextContents();
    assert.deepEqual(cells.map((s) => s.trim()),
      [d.day, F.int(d.visitors), F.int(d.converted), F.pct(d.conversion_rate), F.int(d.orders), F.money(d.revenue), F.money(d.aov)],
      `${what}: day ${d.day}`);
  }
  return k;
}

async function checkExperiments(page, what, P) {
  const cards = page.locator('#experiments-body article.exp');
  assert.equal(await cards.count(), P.experiments.experiments.length, `${what}: one card per experiment`);
  let sawBeats = false;
  let sawNotYet = false;
  let sawSrm = false;
  for (const e of P.experiments.experiments) {
    const card = page.locator(`article.exp[data-experiment="${e.id}"]`);
    assert.equal(await text(card.locator('h3').first()), e.name, `${what}: ${e.id} name`);
    await checkTable(page, `article.exp[data-experiment="${e.id}"] table[data-testid="arms"]`, e.arms,
      (a) => a.name + (a === e.arms[0] && a.name !== 'control' ? ' (control)' : ''), {
        share: (a) => F.pct(a.share), visitors: (a) => F.int(a.visitors), conversions: (a) => F.int(a.conversions),
        conversion_rate: (a) => F.pct(a.conversion_rate),
        conversion_interval: (a) => `${F.pct(a.conversion_rate_lo)} to ${F.pct(a.conversion_rate_hi)}`,
        orders: (a) => F.int(a.orders), revenue: (a) => F.money(a.revenue), aov: (a) => F.money(a.aov),
        revenue_per_visitor: (a) => F.money(a.revenue_per_visitor), rec_ctr: (a) => F.pct(a.rec_ctr),
      }, `${what} ${e.id} arms`);
    const cmp = e.arms.slice(1).filter((a) => a.vs_control);
    if (cmp.length) {
      await checkTable(page, `article.exp[data-experiment="${e.id}"] table[data-testid="vs-control"]`, cmp, (a) => a.name, {
        uplift: (a) => F.signed(a.vs_control.conversion.uplift),
        uplift_interval: (a) => `${F.signed(a.vs_control.conversion.uplift_lo)} to ${F.signed(a.vs_control.conversion.uplift_hi)}`,
        p_value: (a) => F.p(a.vs_control.conversion.p_value),
        sequential_p_value: (a) => F.p(a.vs_control.conversion.sequential_p_value),
        rpv_p_value: (a) => (a.vs_control.revenue_per_visitor ? F.p(a.vs_control.revenue_per_visitor.p_value) : '–'),
      }, `${what} ${e.id} vs control`);
    }
    const units = await text(card.locator('[data-metric="units"] dd'));
    assert.equal(units, F.int(e.units), `${what}: ${e.id} units`);
    const srm = card.locator('.srm');
    assert.equal(await srm.count(), e.srm.flagged ? 1 : 0, `${what}: ${e.id} SRM warning iff flagged`);
    if (e.srm.flagged) sawSrm = true;
    for (const a of e.arms.slice(1)) {
      const v = await text(card.locator(`.verdict[data-arm="${a.name}"]`));
      const c = a.vs_control && a.vs_control.conversion;
      if (e.srm.flagged) {
        assert.match(v, /Do not trust/, `${what}: ${e.id} verdict under SRM`);
      } else if (c && c.sequential_p_value < 0.05) {
        const word = c.diff > 0 ? 'beats' : 'trails';
        assert.ok(v.startsWith(`${a.name} ${word} ${e.arms[0].name}: ${F.signed(c.uplift)} conversion (interval ${F.signed(c.uplift_lo)} to ${F.signed(c.uplift_hi)}), sequential ${F.pIs(c.sequential_p_value)}`),
          `${what}: ${e.id} verdict "${v}"`);
        sawBeats = true;
      } else {
        assert.match(v, /not significant yet/, `${what}: ${e.id} verdict "${v}"`);
        assert.ok(v.includes(`sequential ${F.pIs(c.sequential_p_value)}`), `${what}: ${e.id} verdict p`);
        sawNotYet = true;
      }
    }
  }
  return {sawBeats, sawNotYet, sawSrm};
}

async function checkOthers(page, what, P) {
  // models
  const snap = P.train.snapshot;
  assert.ok(snap && snap.models.length >= 3, 'trained models');
  await checkTable(page, '#models-body table[data-testid="models"]', snap.models, (m) => m.name,
    {seconds: (m) => F.secs(m.seconds)}, `${what} models`);
  const v = snap.validation;
  assert.ok(v && v.cases >= 50 && v.sources.length >= 2, 'offline check of the blend');
  assert.equal(await text(page.locator('#models-body [data-metric="val_hr10"] dd')), F.pct(v.hr10), `${what}: validation HR`);
  assert.equal(await text(page.locator('#models-body [data-metric="val_ndcg10"] dd')), F.dec3(v.ndcg10), `${what}: validation NDCG`);
  await checkTable(page, '#models-body table[data-testid="validation"]', v.sources, (r) => r.name,
    {weight: (r) => F.dec1(r.weight), hr10: (r) => F.pct(r.hr10), ndcg10: (r) => F.dec3(r.ndcg10)}, `${what} validation`);
  assert.equal(await text(page.locator('#models-body [data-metric="state"] dd')), P.train.state, `${what}: model state`);
  // data health
  const st = P.stats;
  assert.equal(await text(page.locator('#health-body [data-metric="events_total"] dd')), F.int(st.events.total), `${what}: events total`);
  assert.equal(await text(page.locator('#health-body [data-metric="duplicates"] dd')),
    `${F.int(st.duplicates_since_start)} since the server started`, `${what}: duplicates`);
  assert.equal(await text(page.locator('#health-body [data-metric="rejected"] dd')),
    `${F.int(st.rejected_since_start)} since the server started`, `${what}: rejected`);
  assert.ok(st.duplicates_since_start >= 1 && st.rejected_since_start >= 1, 'seeded duplicate and rejected events');
  const types = Object.entries(st.events.by_type).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  await checkTable(page, '#health-body table[data-testid="events-by-type"]', types, (r) => r[0],
    {count: (r) => F.int(r[1])}, `${what} events by type`);
  const recs = Object.entries(st.recommendations || {});
  await checkTable(page, '#health-body table[data-testid="recs-by-type"]', recs, (r) => r[0], {
    served: (r) => F.int(r[1].served), impressions: (r) => F.int(r[1].impressions), clicks: (r) => F.int(r[1].clicks),
    ctr: (r) => F.pct(r[1].ctr), attributed_revenue: (r) => F.money(r[1].attributed_revenue),
  }, `${what} recommendations by type`);
  // search
  const an = P.search.analytics;
  assert.ok(an.top.length >= 3 && an.zero_results.length >= 1, 'seeded search analytics');
  await checkTable(page, '#search-body table[data-testid="top-queries"]', an.top, (r) => r.query, {
    searches: (r) => F.int(r.searches), clicked_searches: (r) => F.int(r.clicked_searches), ctr: (r) => F.pct(r.ctr),
    clicks: (r) => F.int(r.clicks), purchases: (r) => F.int(r.purchases), zero_results: (r) => F.int(r.zero_results),
  }, `${what} top queries`);
  await checkTable(page, '#search-body table[data-testid="zero-queries"]', an.zero_results, (r) => r.query, {
    searches: (r) => F.int(r.searches), zero_results: (r) => F.int(r.zero_results),
  }, `${what} zero-result queries`);
  assert.equal(await text(page.locator('#search-body [data-metric="products"] dd')), F.int(P.search.index.products), `${what}: indexed`);
  // seasonal
  const se = P.seasonal;
  assert.ok(se.seasonal.history_ok && se.seasonal.items.some((x) => x.item === 'S3'), 'the seeded lantern is seasonal');
  assert.ok(se.audit.items.some((x) => x.item === 'S3'), 'the seeded lantern was shown out of season');
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const seasonText = (r) => r.season.map((m) => MONTHS[m - 1]).join(', ');
  await checkTable(page, '#seasonal-body table[data-testid="seasonal-items"]', se.seasonal.items, (r) => r.item,
    {share: (r) => F.pct(r.share), units: (r) => F.int(r.units)}, `${what} seasonal products`);
  const auditRow = page.locator('#seasonal-body table[data-testid="audit"] tbody tr').first();
  assert.equal(await text(auditRow.locator('td').first()), seasonText(se.audit.items[0]), `${what}: audit season`);
  assert.equal(await text(auditRow.locator('td').last()),
    se.audit.items[0].widgets.map((w) => `${w.widget} ${F.int(w.count)}`).join(', '), `${what}: audit widgets`);
  assert.equal(await text(page.locator('#seasonal-body [data-metric="seasonal"] dd')),
    `${F.int(se.seasonal.seasonal)} of ${F.int(se.seasonal.items_with_sales)} with sales`, `${what}: seasonal count`);
  assert.equal(await text(page.locator('#seasonal-body [data-metric="served"] dd')), F.int(se.audit.served), `${what}: audited`);
  assert.equal(await text(page.locator('#seasonal-body [data-metric="out_of_season"] dd')),
    `${F.int(se.audit.out_of_season)} (${F.pct(se.audit.share)})`, `${what}: out of season`);
  await checkTable(page, '#seasonal-body table[data-testid="audit"]', se.audit.items, (r) => r.item,
    {out_of_season: (r) => F.int(r.out_of_season)}, `${what} audit`);
  // segments: formed by the training in seed()
  const g = P.segments;
  assert.equal(g.status, 'trained', 'the seeded shop has segments');
  assert.ok(g.k >= 2 && g.segments.length === g.k, 'segments listed');
  for (const [m, v] of Object.entries({k: F.int(g.k), shoppers: F.int(g.shoppers), new_visitors: F.int(g.new_visitors),
    silhouette: F.dec3(g.silhouette)})) {
    assert.equal(await text(page.locator(`#segments-body [data-metric="${m}"] dd`)), v, `${what}: segments ${m}`);
  }
  await checkTable(page, '#segments-body table[data-testid="segments"]', g.segments, (r) => r.name, {
    shoppers: (r) => F.int(r.shoppers), share: (r) => F.pct(r.share), orders: (r) => F.dec1(r.medians.orders),
    spend: (r) => F.money(r.medians.spend), days: (r) => F.int(r.medians.days_since_active),
    categories: (r) => r.categories.slice(0, 3).map((c) => `${c.category} ${F.pct0(c.share)}`).join(', '),
  }, `${what} segments`);
  for (const sg of g.segments) {
    const d = page.locator(`#segments-body details[data-segment="${sg.id}"]`);
    await d.locator('summary').click();
    assert.equal(await text(d.locator('[data-metric="description"]')), sg.description, `${what}: ${sg.id} description`);
    await checkTable(page, `#segments-body table[data-testid="top-${sg.id}"]`, sg.top_products, (r) => r.title || r.item_id, {
      shoppers: (r) => F.int(r.shoppers), share: (r) => F.pct(r.share), lift: (r) => `${F.dec1(r.lift)}×`,
    }, `${what} ${sg.id} top products`);
  }
}

for (const viewport of ['desktop', 'phone']) {
  test(`dashboard (${viewport}): login errors, every panel matches the API, switcher, session, log out`, async () => {
    assert.ok(fs.existsSync(VENDOR), 'run scripts/build-web first (web/dashboard/vendor/uPlot.iife.min.js)');
    // Chromium logs the 401/403 answers to the wrong keys below as console errors.
    const {context, page, errors, got} = await open(viewport, {ignore: [/Failed to load resource: the server responded with a status of 40[13]/]});
    await page.waitForSelector('#login-form', {state: 'visible'});
    await shot(page, `dashboard-${viewport}-login`);

    // empty, wrong and public keys
    await page.click('#login-submit');
    assert.match(await text(page.locator('#login-error')), /Enter your shop's secret key/);
    await login(page, 'sk_this_is_not_a_key');
    await until(async () => (await text(page.locator('#login-error'))).length > 0);
    assert.match(await text(page.locator('#login-error')), /not accepted/);
    assert.equal(await page.locator('#app').isVisible(), false, 'app stays hidden');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a wrong key is not kept');
    await shot(page, `dashboard-${viewport}-wrong-key`);
    await login(page, t.publicKey);
    await until(async () => /public/.test(await text(page.locator('#login-error'))));
    assert.match(await text(page.locator('#login-error')), /public \(storefront\) key.*secret key/);

    // the secret key
    await login(page, t.secretKey);
    await page.waitForSelector('body[data-loaded="1"]', {timeout: 15000});
    assert.equal(await page.locator('#login').isVisible(), false);
    assert.equal(await page.locator('#vendor-missing').isVisible(), false, 'uPlot loaded');
    for (const id of ['overview', 'widgets', 'experiments', 'search', 'seasonal', 'models', 'health', 'segments']) {
      assert.ok(await page.locator(`#${id}`).isVisible(), `panel ${id} visible`);
      const err = page.locator(`#${id}-error`);
      if (await err.count()) assert.equal(await err.isVisible(), false, `panel ${id} has no error: ${await err.innerText()}`);
    }
    assert.equal(await page.locator('#chart-revenue canvas').count(), 1, 'revenue chart drawn');
    assert.equal(await page.locator('#chart-visitors canvas').count(), 1, 'visitors chart drawn');
    const box = await page.locator('#chart-revenue .uplot').boundingBox();
    const vw = page.viewportSize().width;
    assert.ok(box && box.width <= vw && box.x >= 0, `chart fits the ${vw}px viewport (${box && box.width})`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `no horizontal page scroll (${overflow}px)`);

    await until(() => ['/v1/experiments', '/v1/admin/search', '/v1/admin/seasonal', '/v1/admin/train', '/v1/admin/stats',
      '/v1/admin/segments']
      .every((k) => got[k]));
    const P = answers(got);
    await checkKpis(page, viewport);
    const seen = await checkExperiments(page, viewport, P);
    assert.ok(seen.sawBeats, 'one experiment has a significant winner (banner-1)');
    assert.ok(seen.sawNotYet, 'one experiment is not significant yet (pers-1)');
    assert.ok(seen.sawSrm, 'one experiment has a sample ratio mismatch (broken-1)');
    await checkOthers(page, viewport, P);
    await shot(page, `dashboard-${viewport}`);
    await page.locator('#experiments').screenshot({path: path.join(REPO, 'tests/browser/artifacts', `dashboard-${viewport}-experiments.png`)});

    // dimension switcher
    await page.selectOption('#by', 'placement');
    await until(async () => (await text(page.locator('#rows-table thead th').first())) === 'Placement');
    await page.waitForSelector('body[data-kpis="1"]');
    const kp = await checkKpis(page, `${viewport} by placement`);
    assert.ok(kp.rows.some((r) => r.key === 'home_hero'), 'placements from the events context');
    await page.selectOption('#by', 'device');
    await until(async () => (await text(page.locator('#rows-table thead th').first())) === 'Device');
    await page.waitForSelector('body[data-kpis="1"]');
    const kd = await checkKpis(page, `${viewport} by device`);
    assert.ok(kd.rows.some((r) => r.key === 'mobile'), 'devices from the events context');

    // date range: 7 days preset
    await page.click('button[data-days="7"]');
    await until(async () => (await page.locator('#days-table tbody tr').count()) === 7);
    await page.waitForSelector('body[data-kpis="1"]');
    await checkKpis(page, `${viewport} 7 days`);
    await page.selectOption('#by', 'widget');
    await page.waitForSelector('body[data-kpis="1"]');

    // train now: the status is polled until the run is over
    const runs = P.train.runs_since_start;
    await page.click('#train-now');
    await until(async () => !(await page.locator('#train-now').isDisabled()), 30000);
    const tr = await ok(await t.api('GET', '/v1/admin/train'), 'train status');
    assert.ok(tr.runs_since_start > runs, 'the button queued a training run');
    A.train = tr; // the next test compares with the new snapshot
    A.segments = await ok(await t.api('GET', '/v1/admin/segments'), 'segments'); // formed again by that training
    assert.equal(await text(page.locator('#models-body [data-metric="state"] dd')), 'idle');

    // reload: still signed in (sessionStorage), then log out
    await page.reload();
    await page.waitForSelector('body[data-loaded="1"]', {timeout: 15000});
    assert.equal(await page.locator('#login').isVisible(), false, 'still signed in after reload');
    await page.click('#logout');
    await page.waitForSelector('#login-form', {state: 'visible'});
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'log out forgets the key');
    assertNoErrors(errors, `dashboard ${viewport}`);
    await context.close();
  });
}

test('dashboard without the chart library says so and still shows the figures', async () => {
  // A web root without dashboard/vendor/ (what a checkout looks like before scripts/build-web).
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tailor-dash-web-'));
  fs.mkdirSync(path.join(root, 'dashboard'));
  for (const f of ['index.html', 'dashboard.js', 'dashboard.css']) {
    fs.copyFileSync(path.join(REPO, 'web', 'dashboard', f), path.join(root, 'dashboard', f));
  }
  const t2 = await startTailor({items: shopItems('http://shop.test'), events: shopEvents(), config: {web_root: root}});
  try {
    const {context, page, errors} = await newPage(browser, 'desktop', {
      contextOptions: {locale: LOCALE, timezoneId: 'UTC'},
      ignore: [/Failed to load resource.*404/, /vendor\/uPlot/]});
    await page.goto(`${t2.base}/dashboard/`);
    await login(page, t2.secretKey);
    await page.waitForSelector('body[data-loaded="1"]', {timeout: 15000});
    assert.ok(await page.locator('#vendor-missing').isVisible(), 'missing-library notice shown');
    assert.match(await text(page.locator('#vendor-missing')), /scripts\/build-web/);
    assert.match(await text(page.locator('#chart-revenue')), /Chart unavailable/);
    const k = await ok(await t2.api('GET', `/v1/admin/kpis?from=${await page.inputValue('#from')}&to=${await page.inputValue('#to')}`), 'kpis');
    const orders = k.days.reduce((s, d) => s + d.orders, 0);
    assert.equal(await text(page.locator('#kpi-tiles [data-metric="orders"] .tile-value')), F.int(orders));
    await shot(page, 'dashboard-desktop-no-vendor');
    assertNoErrors(errors, 'dashboard without vendor');
    await context.close();
  } finally {
    await t2.stop();
    fs.rmSync(root, {recursive: true, force: true});
  }
});
