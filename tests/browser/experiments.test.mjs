// Browser tests of tailor.js's A/B experiment support (docs/storefront.md,
// "A/B experiments") against a real `tailor serve`: declarative variants
// (data-tailor-experiment / data-arm), tailor.experiment(id) and
// tailor.exposed(id, arm), and consent. Experiments are created with the
// secret key through the API; the arm a page shows is compared with what
// the assignments endpoint answers for the same shopper, and exposures are
// read both from what the browser sent (harness.recordTailorRequests) and
// from the server's experiment report (per-arm `visitors`) and event counts
// (admin stats). Every behaviour runs at the desktop and phone viewports.
// The test pages are written into a temp dir and served from another origin.
import {test, describe, before, after, afterEach} from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  startTailor,
  startShop,
  launchBrowser,
  newPage,
  recordTailorRequests,
  assertNoErrors,
  shot,
  until,
  sleep,
} from './lib/harness.mjs';

const HERO = 'hero-test'; // 40% control, 40% banner, 20% in no arm; home pages only
const PROMO = 'promo-test'; // 50% off, 50% on; every page
const QUIET_MS = 1500; // longer than tailor.js's flush interval (1 s)

let t, shop, browser, pagesDir;
const vars = {};

/** A test page. The hero variants have `display:flex` from the page's own
 * CSS, which beats the browser's [hidden] rule: tailor.js must hide them. */
function heroPage({consent = false} = {}) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Experiment - Test shop</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; padding: 1rem; }
  .top { height: 140vh; padding: 1rem; box-sizing: border-box; background: linear-gradient(#fafafa, #e4e4e4); }
  .hero { display: flex; align-items: center; justify-content: center; height: 260px; margin: 1rem 0;
          border-radius: 10px; font-size: 1.6rem; }
  .control { background: #dfe8f5; } .banner { background: #ffd54f; }
  .bottom { height: 120vh; }
</style>
<script>
  window.tailor = window.tailor || [];
  tailor.push(['experiment', '${HERO}', function (arm) { window.queuedArm = arm === null ? 'none' : arm; }]);
</script>
<script async src="{{TAILOR}}/tailor.js" data-key="{{KEY}}"${consent ? ' data-consent="required"' : ''}></script>
</head>
<body data-tailor-page="home">
<div class="top">
  <h1>Test shop</h1>
  <p>Scroll down for today's offer.</p>
  ${consent ? '<button id="accept" onclick="tailor.consent({analytics: true, personalization: true})">Accept</button>' : ''}
</div>
<div id="hero" data-tailor-experiment="${HERO}">
  <div class="hero control" data-arm="control" data-arm-default>Welcome back</div>
  <div class="hero banner" data-arm="banner" hidden>Winter sale: 20% off</div>
</div>
<div class="bottom"></div>
</body>
</html>
`;
}

before(async () => {
  pagesDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'tailor-exp-pages-'));
  fs.writeFileSync(path.join(pagesDir, 'exp.html'), heroPage());
  fs.writeFileSync(path.join(pagesDir, 'exp-consent.html'), heroPage({consent: true}));
  shop = await startShop(pagesDir, vars);
  t = await startTailor({bin: process.env.TAILOR_BIN});
  vars.TAILOR = t.base;
  vars.KEY = t.publicKey;
  for (const [id, def] of [
    [HERO, {name: 'Hero banner', status: 'running', targeting: {page_types: ['home']},
      arms: [{name: 'control', share: 0.4}, {name: 'banner', share: 0.4}]}],
    [PROMO, {name: 'Promo strip', status: 'running', arms: [{name: 'off', share: 0.5}, {name: 'on', share: 0.5}]}],
  ]) {
    const r = await t.api('PUT', `/v1/experiments/${id}`, {body: def});
    assert.equal(r.status, 200, r.body);
  }
  const pub = await t.api('PUT', `/v1/experiments/${HERO}`, {key: t.publicKey, body: {arms: []}});
  assert.ok(pub.status === 401 || pub.status === 403, `the public key cannot define experiments: ${pub.status}`);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (shop) await shop.stop();
  if (t) await t.stop();
  if (pagesDir && !process.env.TAILOR_BROWSER_KEEP) await fsp.rm(pagesDir, {recursive: true, force: true});
});

const live = [];
afterEach(async () => {
  while (live.length) await live.pop().close().catch(() => {});
  await sleep(300);
});

/** The shopper's arms as the API gives them: {experimentId: arm}. */
async function apiArms(aid, pageType = 'home') {
  const q = new URLSearchParams({anonymous_id: aid, page_type: pageType});
  const r = await t.api('GET', `/v1/experiments/assignments?${q}`, {key: t.publicKey});
  assert.equal(r.status, 200, r.body);
  return Object.fromEntries(r.json.assignments.map((a) => [a.experiment, a.arm]));
}

/** A fresh anonymous id (tailor.js's format) whose arm of HERO is `arm` (null: in no arm). */
async function aidWithArm(arm) {
  for (let i = 0; i < 500; i++) {
    const aid = `a-${crypto.randomUUID()}`;
    if (((await apiArms(aid))[HERO] || null) === arm) return aid;
  }
  throw new Error(`no anonymous id in arm ${arm} of ${HERO} after 500 tries`);
}

/** {arm name: visitors} and units of an experiment's report (secret key). */
async function report(id) {
  const r = await t.api('GET', `/v1/experiments/${id}`);
  assert.equal(r.status, 200, r.body);
  return {units: r.json.units, visitors: Object.fromEntries(r.json.arms.map((a) => [a.name, a.visitors]))};
}

async function exposuresStored() {
  const r = await t.api('GET', '/v1/admin/stats');
  assert.equal(r.status, 200, r.body);
  return r.json.events.by_type.experiment_exposure || 0;
}

/** Open a page in a new context; aid (optional) is stored as the shopper's anonymous id first. */
async function open(vp, p, {aid} = {}) {
  const {context, page, errors} = await newPage(browser, vp);
  live.push(context);
  if (aid) await context.addInitScript((a) => localStorage.setItem('tailor_aid', a), aid);
  const rec = await recordTailorRequests(context, t.base, shop);
  rec.clear();
  await goto(page, p);
  return {context, page, errors, rec};
}

/** Load a page and wait until tailor.js decided the hero variant. */
async function goto(page, p) {
  await page.goto(shop.base + p);
  await page.waitForFunction(() => window.tailor && window.tailor._loaded === true);
  await page.waitForSelector('#hero[data-tailor-arm]', {state: 'attached'});
}

/** The arms of the hero children that are displayed (hidden = display none). */
async function shownArms(page) {
  return page.$$eval('#hero > [data-arm]', (els) =>
    els.filter((e) => getComputedStyle(e).display !== 'none' && e.getBoundingClientRect().height > 0).map((e) => e.dataset.arm));
}

async function hiddenArms(page) {
  return page.$$eval('#hero > [data-arm]', (els) => els.filter((e) => e.hidden).map((e) => e.dataset.arm));
}

const exposuresOf = (rec, id) => rec.events.filter((e) => e.type === 'experiment_exposure' && e.experiment_id === id);

/** Scroll so that only a third of the hero shows at the bottom of the window. */
async function scrollHeroThird(page) {
  await page.evaluate(() => {
    const r = document.querySelector('#hero > :not([hidden])').getBoundingClientRect();
    window.scrollBy(0, r.top - innerHeight + r.height / 3);
  });
}

async function scrollHeroIn(page) {
  await page.evaluate(() => document.querySelector('#hero > :not([hidden])').scrollIntoView({block: 'center'}));
}

describe('tailor.js experiments', {concurrency: 1}, () => {
for (const vp of ['desktop', 'phone']) {
  describe(vp, {concurrency: 1}, () => {
    for (const arm of ['banner', 'control']) {
      test(`variants (arm ${arm}): the API's arm is shown; one exposure, only once the variant is half visible`, async () => {
        const aid = await aidWithArm(arm);
        const before = await report(HERO);
        const stored = await exposuresStored();
        const {page, errors, rec} = await open(vp, '/exp.html', {aid});
        assert.equal(await page.evaluate(() => window.tailor.ids().anonymous_id), aid);
        assert.equal((await apiArms(aid))[HERO], arm, 'the API assigns the chosen arm');
        assert.equal(await page.getAttribute('#hero', 'data-tailor-arm'), arm);
        assert.deepEqual(await shownArms(page), [arm], 'only the assigned variant is displayed');
        assert.deepEqual(await hiddenArms(page), [arm === 'banner' ? 'control' : 'banner'], 'the other has `hidden`');
        assert.equal(await page.evaluate(() => window.queuedArm), arm, 'the queued tailor.experiment call got the arm');
        // one assignments request, with the page type and the shopper's id
        const asks = rec.requests.filter((r) => r.url.includes('/v1/experiments/assignments'));
        assert.equal(asks.length, 1, `one assignments request per page: ${JSON.stringify(asks)}`);
        const q = new URL(asks[0].url).searchParams;
        assert.equal(q.get('page_type'), 'home');
        assert.equal(q.get('anonymous_id'), aid);
        assert.equal(q.get('key'), t.publicKey);
        // below the fold: nothing
        await sleep(QUIET_MS);
        assert.deepEqual(exposuresOf(rec, HERO), [], 'no exposure while the variant is below the fold');
        await scrollHeroThird(page);
        await sleep(QUIET_MS);
        assert.deepEqual(exposuresOf(rec, HERO), [], 'no exposure at a third visible');
        assert.deepEqual((await report(HERO)).visitors, before.visitors, 'the server counted no visitor yet');
        // half visible: one exposure, with the shopper's ids
        await scrollHeroIn(page);
        const sent = await rec.waitFor((e) => e.type === 'experiment_exposure' && e.experiment_id === HERO);
        assert.equal(sent.length, 1, `one exposure: ${JSON.stringify(sent)}`);
        assert.equal(sent[0].arm, arm);
        assert.equal(sent[0].anonymous_id, aid);
        const after = await until(async () => {
          const r = await report(HERO);
          return r.visitors[arm] === before.visitors[arm] + 1 && r;
        });
        assert.ok(after, `the report counts the visitor in arm ${arm}`);
        assert.equal(after.units, before.units + 1);
        for (const a of Object.keys(before.visitors)) {
          if (a !== arm) assert.equal(after.visitors[a], before.visitors[a], `arm ${a} unchanged`);
        }
        await shot(page, `experiments-${vp}-${arm}`);
        // seen again on the same page: no second exposure
        await page.evaluate(() => window.scrollTo(0, 0));
        await sleep(300);
        await scrollHeroIn(page);
        await sleep(QUIET_MS);
        assert.equal(exposuresOf(rec, HERO).length, 1, 'once per page view');
        assert.ok(await until(async () => (await exposuresStored()) === stored + 1), 'the server stored one exposure event');
        await sleep(500);
        assert.equal(await exposuresStored(), stored + 1, 'exactly one exposure event stored');
        assertNoErrors(errors);
      });
    }

    test('a shopper in no arm sees the default variant and sends no exposure', async () => {
      const aid = await aidWithArm(null);
      const before = await report(HERO);
      const {page, errors, rec} = await open(vp, '/exp.html', {aid});
      assert.equal(await page.getAttribute('#hero', 'data-tailor-arm'), '');
      assert.deepEqual(await shownArms(page), ['control'], 'the data-arm-default variant');
      assert.deepEqual(await hiddenArms(page), ['banner']);
      assert.equal(await page.evaluate(() => window.queuedArm), 'none');
      assert.equal(await page.evaluate((id) => window.tailor.experiment(id), HERO), null);
      await scrollHeroIn(page);
      await sleep(QUIET_MS);
      await shot(page, `experiments-${vp}-no-arm`);
      assert.deepEqual(exposuresOf(rec, HERO), [], 'no exposure outside the experiment');
      assert.deepEqual(await report(HERO), before, 'the report is unchanged');
      assertNoErrors(errors);
    });

    test('tailor.experiment and tailor.exposed: the API arms, one request per page, one exposure', async () => {
      const before = await report(PROMO);
      const {page, errors, rec} = await open(vp, '/exp.html'); // the shopper tailor.js made up
      const aid = await page.evaluate(() => window.tailor.ids().anonymous_id);
      assert.match(aid, /^a-/);
      const want = await apiArms(aid);
      assert.ok(want[PROMO], 'everyone is in the promo experiment');
      const got = await page.evaluate(async ([a, b]) => ({
        hero: await window.tailor.experiment(a),
        promo: await window.tailor.experiment(b),
        missing: await window.tailor.experiment('no-such-experiment'),
        queued: await new Promise((r) => window.tailor.push(['experiment', b, r])),
      }), [HERO, PROMO]);
      assert.deepEqual(got, {hero: want[HERO] || null, promo: want[PROMO], missing: null, queued: want[PROMO]});
      assert.equal(rec.requests.filter((r) => r.url.includes('/v1/experiments/assignments')).length, 1,
        'answers are cached for the page');
      // the page renders the promo itself and says when it is shown
      const calls = await page.evaluate(([b, a]) => [window.tailor.exposed(b, a), window.tailor.exposed(b, a),
        window.tailor.push(['exposed', b, a])], [PROMO, want[PROMO]]);
      assert.deepEqual(calls, [true, false, false], 'logged on the first call only');
      const sent = await rec.waitFor((e) => e.type === 'experiment_exposure' && e.experiment_id === PROMO);
      await sleep(QUIET_MS);
      assert.equal(exposuresOf(rec, PROMO).length, 1, `one exposure: ${JSON.stringify(sent)}`);
      assert.equal(sent[0].arm, want[PROMO]);
      assert.equal(sent[0].anonymous_id, aid);
      const after = await until(async () => {
        const r = await report(PROMO);
        return r.visitors[want[PROMO]] === before.visitors[want[PROMO]] + 1 && r;
      });
      assert.ok(after, 'the report counts the visitor');
      // variants inserted later by the page's scripts: switched too, from the cached answer,
      // and in view without a second exposure of the experiment on this page
      await page.evaluate((b) => {
        const el = document.createElement('div');
        el.id = 'late';
        el.dataset.tailorExperiment = b;
        el.innerHTML = '<p data-arm="off" data-arm-default>No promo</p><p data-arm="on" hidden>Free shipping</p>';
        document.body.prepend(el);
        window.scrollTo(0, 0);
      }, PROMO);
      await page.waitForSelector('#late[data-tailor-arm]', {state: 'attached'});
      assert.equal(await page.getAttribute('#late', 'data-tailor-arm'), want[PROMO]);
      assert.deepEqual(await page.$$eval('#late > :not([hidden])', (els) => els.map((e) => e.dataset.arm)), [want[PROMO]]);
      await sleep(QUIET_MS);
      assert.equal(exposuresOf(rec, PROMO).length, 1, 'still one exposure per experiment and page');
      assert.equal(rec.requests.filter((r) => r.url.includes('/v1/experiments/assignments')).length, 1);
      assertNoErrors(errors);
    });

    test('consent required: no assignments request and no exposure before consent; the arm after', async () => {
      const aid = await aidWithArm('banner');
      const before = await report(HERO);
      const {page, errors, rec} = await open(vp, '/exp-consent.html');
      assert.equal(await page.getAttribute('#hero', 'data-tailor-arm'), '', 'no arm without an id');
      assert.deepEqual(await shownArms(page), ['control'], 'the default variant before consent');
      assert.equal(await page.evaluate((id) => window.tailor.experiment(id), HERO), null);
      await scrollHeroIn(page);
      await sleep(QUIET_MS);
      await shot(page, `experiments-${vp}-consent-before`);
      assert.deepEqual(rec.posts, [], 'nothing sent before consent');
      assert.deepEqual(rec.requests.filter((r) => r.url.includes('/v1/experiments/')), [], 'no assignments request');
      for (const r of rec.requests) assert.ok(!/anonymous_id|user_id/.test(r.url), `request without ids: ${r.url}`);
      assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter((k) => /tailor/.test(k))), []);
      // consent given; the shopper (made deterministic here) is in the banner arm
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.click('#accept');
      await page.evaluate((a) => localStorage.setItem('tailor_aid', a), aid);
      rec.clear();
      await goto(page, '/exp-consent.html');
      assert.equal(await page.evaluate(() => window.tailor.ids().anonymous_id), aid);
      assert.equal(await page.getAttribute('#hero', 'data-tailor-arm'), 'banner');
      assert.deepEqual(await shownArms(page), ['banner']);
      await sleep(QUIET_MS);
      assert.deepEqual(exposuresOf(rec, HERO), [], 'no exposure below the fold');
      await scrollHeroIn(page);
      const sent = await rec.waitFor((e) => e.type === 'experiment_exposure' && e.experiment_id === HERO);
      assert.equal(sent.length, 1);
      assert.equal(sent[0].arm, 'banner');
      assert.ok(await until(async () => (await report(HERO)).visitors.banner === before.visitors.banner + 1),
        'the report counts the visitor after consent');
      await shot(page, `experiments-${vp}-consent-after`);
      assertNoErrors(errors);
    });
  });
}
});
