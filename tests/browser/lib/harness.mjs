// Browser-test harness: a real `tailor serve` on a free loopback port over a
// fresh database, a static "shop" server on another port (so the snippet is
// cross-origin, as on a real shop), and Chromium through playwright-core.
//
//   const t = await startTailor({bin, items, events});    // or {bin, demo: true}
//   const shop = await startShop(new URL('./pages/', import.meta.url), {TAILOR: t.base, KEY: t.publicKey});
//   const browser = await launchBrowser();
//   const {page, errors} = await newPage(browser, 'phone');
//   ...; assertNoErrors(errors); await shot(page, 'name'); ...
//   await browser.close(); await shop.stop(); await t.stop();
//
// The tailor binary: option `bin`, else $TAILOR_BIN, else build/tailor.
// The demo database (bundled UCI Online Retail data, imported and trained as
// scripts/run-demo does) is built once per run and cached in
// $TAILOR_BROWSER_CACHE (scripts/browser-tests sets it to a temp dir it
// removes afterwards), else in a temp dir named after the binary's size and
// mtime; each test gets a copy. Set TAILOR_BROWSER_KEEP=1 to keep temp dirs.
import {spawn, execFile} from 'node:child_process';
import {promisify} from 'node:util';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..', '..');
export const ARTIFACTS = path.join(REPO, 'tests', 'browser', 'artifacts');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const START_TIMEOUT_MS = 90000; // opening a large db on a loaded machine can take tens of seconds

export const VIEWPORTS = {
  desktop: {viewport: {width: 1280, height: 800}, deviceScaleFactor: 1, isMobile: false, hasTouch: false},
  phone: {
    viewport: {width: 390, height: 844},
    deviceScaleFactor: 3,
    isMobile: true,
    hasTouch: true,
    userAgent:
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
  },
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Servers still running when the test process exits (a test crashed before
// stop()) are killed, so no `tailor serve` outlives its test file.
const LIVE = new Set();
process.on('exit', () => {
  for (const p of LIVE) p.kill('SIGKILL');
});

/** A free TCP port on 127.0.0.1 (the kernel picks it; closed again before use). */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const {port} = s.address();
      s.close(() => resolve(port));
    });
  });
}

function resolveBin(bin) {
  const b = path.resolve(REPO, bin || process.env.TAILOR_BIN || 'build/tailor');
  if (!fs.existsSync(b)) throw new Error(`tailor binary ${b} not found: build it first or pass --bin`);
  return b;
}

async function cli(bin, args, opts = {}) {
  const {stdout} = await run(bin, args, {cwd: REPO, maxBuffer: 64 << 20, timeout: opts.timeout || 600000});
  return stdout.trim();
}

function demoData() {
  const a = path.join(REPO, 'data', 'online_retail.csv.gz');
  if (fs.existsSync(a)) return a;
  const b = path.join(REPO, '..', 'shared', 'data', 'online-retail', 'online_retail.csv.gz');
  if (fs.existsSync(b)) return b;
  throw new Error('demo data data/online_retail.csv.gz not found');
}

/** Build (once per run) the demo database; returns its path. A mkdir lock
 * serialises test files that run in parallel. */
async function demoDb(bin) {
  const st = fs.statSync(bin);
  const dir = process.env.TAILOR_BROWSER_CACHE ||
    path.join(os.tmpdir(), `tailor-browser-demo-${st.size}-${Math.floor(st.mtimeMs)}`);
  await fsp.mkdir(dir, {recursive: true});
  const db = path.join(dir, 'demo.db');
  const done = path.join(dir, 'demo.done');
  const lock = path.join(dir, 'lock');
  for (let waited = 0; !fs.existsSync(done); waited += 500) {
    try {
      fs.mkdirSync(lock);
    } catch {
      if (waited > 900000) throw new Error(`timed out waiting for the demo db lock ${lock}`);
      await sleep(500);
      continue;
    }
    try {
      if (!fs.existsSync(done)) {
        for (const f of fs.readdirSync(dir)) if (f.startsWith('demo.db')) fs.rmSync(path.join(dir, f), {force: true});
        const data = demoData();
        await cli(bin, ['import', 'catalog', data, '--format', 'online-retail', '--db', db]);
        // as scripts/run-demo: the 2010-2011 orders replayed as if the last was yesterday
        const shift = Math.floor((Date.now() - Date.parse('2011-12-10T00:00:00Z')) / 86400000);
        await cli(bin, ['import', 'orders', data, '--format', 'online-retail', '--db', db,
                        '--time-shift-days', String(shift)]);
        await cli(bin, ['train', '--db', db]);
        fs.writeFileSync(done, new Date().toISOString() + '\n');
      }
    } finally {
      fs.rmdirSync(lock);
    }
  }
  return db;
}

/** Minimal JSON-over-HTTP client. Returns {status, headers, body, json}. */
export async function request(base, method, p, {key, body, headers = {}, keyInQuery = false} = {}) {
  const url = new URL(p, base);
  const h = {...headers};
  if (key && keyInQuery) url.searchParams.set('key', key);
  else if (key) h.Authorization = `Bearer ${key}`;
  let data;
  if (body !== undefined) {
    data = typeof body === 'string' ? body : JSON.stringify(body);
    if (!h['Content-Type']) h['Content-Type'] = 'application/json';
  }
  const res = await fetch(url, {method, headers: h, body: data});
  const text = await res.text();
  let parsed = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return {status: res.status, headers: res.headers, body: text, json: parsed};
}

/**
 * Start `tailor serve` over a fresh database.
 * @param {object} o
 * @param {string} [o.bin] tailor binary (default $TAILOR_BIN or build/tailor)
 * @param {object[]} [o.items] catalog items, loaded with PUT /v1/items (secret key)
 * @param {object[]} [o.events] events, loaded with POST /v1/events
 * @param {boolean} [o.demo] start from the bundled demo store (imported + trained, cached per run)
 * @param {object} [o.config] extra configuration keys (docs/configuration.md)
 * @returns {Promise<{base, port, publicKey, secretKey, db, dir, log, api, stop}>}
 */
export async function startTailor({bin, items, events, demo = false, config = {}} = {}) {
  bin = resolveBin(bin);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'tailor-browser-'));
  const db = path.join(dir, 't.db');
  if (demo) {
    const src = await demoDb(bin);
    for (const f of fs.readdirSync(path.dirname(src))) {
      if (f.startsWith('demo.db') && !f.endsWith('.lock')) fs.copyFileSync(path.join(path.dirname(src), f), path.join(dir, 't.db' + f.slice(7)));
    }
  }
  const publicKey = await cli(bin, ['keys', 'create', '--scope', 'public', '--db', db]);
  const secretKey = await cli(bin, ['keys', 'create', '--scope', 'secret', '--db', db]);
  const cfgPath = path.join(dir, 'config.json');
  fs.writeFileSync(cfgPath, JSON.stringify({web_root: path.join(REPO, 'web'), ...config}));
  const port = await freePort();
  const log = path.join(dir, 'server.log');
  const out = fs.openSync(log, 'a');
  const proc = spawn(bin, ['serve', '--port', String(port), '--db', db, '--config', cfgPath], {
    cwd: REPO,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  let exited = null;
  LIVE.add(proc);
  proc.on('exit', (code, sig) => {
    exited = {code, sig};
    LIVE.delete(proc);
  });
  const base = `http://127.0.0.1:${port}`;
  const logTail = () => {
    try {
      return fs.readFileSync(log, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '';
    }
  };
  const t0 = Date.now();
  for (;;) {
    if (exited) throw new Error(`tailor serve exited (${JSON.stringify(exited)}) at start:\n${logTail()}`);
    try {
      // ours, not another test file's server that took the port meanwhile
      const r = await fetch(base + '/healthz');
      if (r.status === 200 && fs.readFileSync(log, 'utf8').includes(`listening on ${base}`)) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() - t0 > START_TIMEOUT_MS) {
      proc.kill('SIGKILL');
      throw new Error(`tailor serve did not answer /healthz within ${START_TIMEOUT_MS} ms:\n${logTail()}`);
    }
    await sleep(50);
  }
  const api = (method, p, opts = {}) =>
    request(base, method, p, {...opts, key: opts.key === undefined ? secretKey : opts.key});
  try {
    if (items && items.length) {
      const r = await api('PUT', '/v1/items', {body: items});
      if (r.status !== 200) throw new Error(`PUT /v1/items: ${r.status} ${r.body.slice(0, 500)}`);
    }
    if (events && events.length) {
      const r = await api('POST', '/v1/events', {body: events});
      if (r.status !== 200) throw new Error(`POST /v1/events: ${r.status} ${r.body.slice(0, 500)}`);
    }
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  async function stop() {
    if (!exited) {
      proc.kill('SIGTERM');
      for (let i = 0; i < 200 && !exited; i++) await sleep(50);
      if (!exited) proc.kill('SIGKILL');
    }
    if (!process.env.TAILOR_BROWSER_KEEP) await fsp.rm(dir, {recursive: true, force: true});
  }
  return {base, port, publicKey, secretKey, db, dir, log, logTail, api, stop, proc};
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * Static "shop" server on a free loopback port serving the files of dir.
 * In .html files, {{NAME}} is replaced by vars[NAME] (e.g. TAILOR = tailor
 * base URL, KEY = public key), so pages load the snippet cross-origin.
 * `/favicon.ico` answers 204 (no console noise). POST /__tailor_sent records
 * copies of what the pages sent to tailor (see recordTailorRequests) in
 * `sent`. Returns {base, port, sent, stop}.
 */
export async function startShop(dir, vars = {}) {
  dir = dir instanceof URL ? fileURLToPath(dir) : path.resolve(dir);
  const sent = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/__tailor_sent' && req.method === 'POST') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        try {
          sent.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          /* ignore */
        }
        res.writeHead(204);
        res.end();
      });
      return;
    }
    if (u.pathname === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    let p = decodeURIComponent(u.pathname);
    if (p.endsWith('/')) p += 'index.html';
    const file = path.join(dir, path.normalize(p).replace(/^([/\\])+/, ''));
    if (!file.startsWith(dir) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, {'Content-Type': 'text/plain'});
      res.end('not found');
      return;
    }
    const ext = path.extname(file);
    let body = fs.readFileSync(file);
    if (ext === '.html') {
      body = Buffer.from(body.toString('utf8').replace(/\{\{([A-Z_]+)\}\}/g, (m, k) => (k in vars ? String(vars[k]) : m)));
    }
    res.writeHead(200, {'Content-Type': TYPES[ext] || 'application/octet-stream', 'Cache-Control': 'no-store'});
    res.end(body);
  });
  // port 0: the kernel's pick, bound at once (no window in which a test file
  // running alongside could take it)
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const {port} = server.address();
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    sent,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}

/** Headless Chromium (Debian package) through playwright-core. */
export async function launchBrowser(opts = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (install the Debian chromium package)`);
  const {chromium} = await import('playwright-core');
  const args = ['--disable-gpu', '--disable-dev-shm-usage'];
  if (typeof process.getuid === 'function' && process.getuid() === 0) args.push('--no-sandbox');
  return chromium.launch({executablePath: CHROMIUM, headless: true, args, ...opts});
}

/**
 * A new context + page at a named viewport ('desktop' 1280x800, 'phone'
 * 390x844 with isMobile/hasTouch). `errors` collects console errors, page
 * errors (uncaught exceptions) and failed requests other than aborted ones;
 * pass `ignore` (array of RegExp) for expected messages.
 */
export async function newPage(browser, viewport = 'desktop', {contextOptions = {}, ignore = []} = {}) {
  const vp = VIEWPORTS[viewport];
  if (!vp) throw new Error(`unknown viewport ${viewport}`);
  const context = await browser.newContext({...vp, ...contextOptions});
  const page = await context.newPage();
  const errors = collectErrors(page, ignore);
  return {context, page, errors};
}

/** Collect console errors and uncaught exceptions of page into an array. */
export function collectErrors(page, ignore = []) {
  const errors = [];
  const skip = (s) => ignore.some((re) => re.test(s));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const loc = m.location();
    const s = `console.error: ${m.text()}${loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`;
    if (!skip(s)) errors.push(s);
  });
  page.on('pageerror', (e) => {
    const s = `pageerror: ${e.message}`;
    if (!skip(s)) errors.push(s);
  });
  return errors;
}

/** Throw when errors (from newPage/collectErrors) is not empty. */
export function assertNoErrors(errors, what = 'page') {
  if (errors.length) throw new Error(`${what}: ${errors.length} console error(s):\n  ${errors.join('\n  ')}`);
}

/** Full-page screenshot into tests/browser/artifacts/NAME.png; returns the path. */
export async function shot(page, name) {
  await fsp.mkdir(ARTIFACTS, {recursive: true});
  const file = path.join(ARTIFACTS, name.replace(/[^A-Za-z0-9._-]+/g, '_') + '.png');
  await page.screenshot({path: file, fullPage: true});
  return file;
}

/**
 * Record what the pages of context send to tailor (base = its URL).
 * - requests: every request to base that Playwright's network layer reports
 *   (fetches, scripts; not beacons sent while a page unloads).
 * - events / identifies / posts: the bodies POSTed to /v1/events and
 *   /v1/identify by fetch, keepalive fetch and navigator.sendBeacon. Beacons
 *   sent while a page unloads are invisible to Playwright (neither request
 *   events nor routes see them), so an init script wraps fetch and
 *   sendBeacon and, before the real call, beacons a copy of each body to the
 *   shop page's own origin (`/__tailor_sent`), where startShop() records it:
 *   pass that shop. Call before opening pages.
 * Returns {events, identifies, posts, requests, clear(), waitFor(pred, ms)}.
 */
export async function recordTailorRequests(context, base, shop) {
  const rec = {requests: []};
  Object.defineProperty(rec, 'posts', {get: () => shop.sent.filter((p) => p.url.startsWith(base))});
  const bodies = (part) =>
    rec.posts
      .filter((p) => p.url.includes(part))
      .flatMap((p) => {
        try {
          const v = JSON.parse(p.body);
          return Array.isArray(v) ? v : [v];
        } catch {
          return [];
        }
      });
  Object.defineProperty(rec, 'events', {get: () => bodies('/v1/events')});
  Object.defineProperty(rec, 'identifies', {get: () => bodies('/v1/identify')});
  context.on('request', (req) => {
    const u = req.url();
    if (u.startsWith(base)) rec.requests.push({method: req.method(), url: u, type: req.resourceType()});
  });
  await context.addInitScript(() => {
    const beacon = navigator.sendBeacon && navigator.sendBeacon.bind(navigator);
    const copy = (kind, url, body) => {
      try {
        beacon(location.origin + '/__tailor_sent',
          JSON.stringify({kind, url: String(url), body: typeof body === 'string' ? body : null, at: Date.now()}));
      } catch {
        /* not a page of the test shop */
      }
    };
    if (beacon) {
      navigator.sendBeacon = function (url, data) {
        copy('beacon', url, data);
        return beacon(url, data);
      };
    }
    const f = window.fetch;
    window.fetch = function (input, init) {
      if (init && init.method === 'POST') copy('fetch', typeof input === 'string' ? input : input.url, init.body);
      return f.apply(this, arguments);
    };
  });
  rec.clear = () => {
    shop.sent.length = 0;
    rec.requests.length = 0;
  };
  rec.waitFor = async (pred, ms = 5000) => {
    const t0 = Date.now();
    for (;;) {
      const hit = rec.events.filter(pred);
      if (hit.length) return hit;
      if (Date.now() - t0 > ms) return [];
      await sleep(50);
    }
  };
  return rec;
}

/** Poll fn until it returns a truthy value or ms pass; returns the last value. */
export async function until(fn, ms = 5000, every = 100) {
  const t0 = Date.now();
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() - t0 > ms) return v;
    await sleep(every);
  }
}

export {sleep};
