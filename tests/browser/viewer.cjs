// The real-browser test of the viewer (run by tests/e2e_browser.sh):
// Debian's chromium, headless, driven by puppeteer-core, reads what the
// index and speedscope show through a real web server.
//
//   node viewer.cjs MODULES BASE MOUNT
//
// MODULES: the node_modules folder tools/fetch-viewer.sh --browser-test
// made; BASE: http://127.0.0.1:PORT; MOUNT: /v1/sys/pprof. Prints one line
// per check and "N passed, M failed"; exits non-zero on any failure.
'use strict';
const path = require('path');
const [modules, base, mount] = process.argv.slice(2);
const puppeteer = require(path.join(modules, 'puppeteer-core'));

let passes = 0, fails = 0;
function check(cond, what) {
	if (cond) { passes++; console.log(`ok - ${what}`); }
	else { fails++; console.log(`FAIL - ${what}`); }
}

// speedscope's own parser of its hash: key=encodeURIComponent(value)&...
function hashParams(href) {
	const out = {};
	for (const kv of new URL(href).hash.slice(1).split('&')) {
		const [k, v] = kv.split('=');
		out[k] = decodeURIComponent(v);
	}
	return out;
}

const wantType = {
	'.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
	'.css': 'text/css; charset=utf-8', '.png': 'image/png', '.ico': 'image/x-icon',
	'.woff2': 'font/woff2', '.wasm': 'application/wasm', '.json': 'application/json',
};

// The text of every frame of the page.
async function allText(page) {
	const texts = await Promise.all(page.frames().map(f =>
		f.evaluate(() => (document.body ? document.body.innerText : '')).catch(() => '')));
	return texts.join('\n');
}

const errors = [];
const served = new Map(); // ui/ path -> [status, content type]

// A tab that records console errors and the viewer's files as served; the
// sandwich table draws only the rows on screen: a tall one.
async function newPage(browser) {
	const page = await browser.newPage();
	await page.setViewport({ width: 1400, height: 3000 });
	page.on('console', m => {
		if (m.type() === 'error')
			errors.push(`${m.text()} (${(m.location() || {}).url || ''})`);
	});
	page.on('pageerror', e => errors.push(String(e)));
	page.on('response', r => {
		const p = new URL(r.url()).pathname;
		if (p.startsWith(`${mount}/ui/`))
			served.set(p, [r.status(), r.headers()['content-type']]);
	});
	return page;
}

// Opens the viewer at href in a tab of its own (a new hash on the same
// page would not reload it), in its sandwich view (a DOM table of every
// function), and waits until each of names shows, or the viewer says it
// failed; returns the text shown and the tab's title.
async function viewer(browser, href, names, what) {
	const url = href.replace('view=left-heavy', 'view=sandwich');
	const page = await newPage(browser);
	await page.goto(url, { waitUntil: 'load' });
	try {
		await page.waitForFunction(ns => {
			const t = document.body ? document.body.innerText : '';
			return ns.every(n => t.includes(n)) || /Unrecognized format|Something went wrong/.test(t);
		}, { timeout: 90000, polling: 250 }, names);
	} catch (e) {
		console.log(`# ${what}: ${e.message}`);
	}
	const shown = { text: await allText(page), title: await page.title().catch(() => '') };
	await page.close();
	return shown;
}

(async () => {
	const browser = await puppeteer.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		userDataDir: process.env.PROFILE_DIR,
		args: ['--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader',
		       '--disable-background-networking', '--disable-component-update',
		       '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
	});
	try {
		const page = await newPage(browser);

		// --- the index: flame-graph links that resolve to the profiles
		const index = await page.goto(`${base}${mount}/`, { waitUntil: 'load' });
		check(index.status() === 200, `index: status ${index.status()}`);
		const links = await page.$$eval('a.flame', as => as.map(a => ({
			href: a.href, label: a.textContent,
			row: a.closest('tr').querySelector('a').textContent,
		})));
		check(links.length === 11, `index: ${links.length} flame-graph links, want 11`);
		const comm = 'demo-target';
		for (const l of links) {
			const u = new URL(l.href), h = hashParams(l.href);
			const profile = new URL(h.profileURL, u);
			check(u.pathname === `${mount}/ui/index.html` && profile.pathname === `${mount}/${l.row}` &&
			      profile.origin === new URL(base).origin && h.view === 'left-heavy' &&
			      new RegExp(`^${comm} \\(pid \\d+\\): `).test(h.title),
			      `index: ${l.row} "${l.label}" opens the viewer on ${profile.pathname}${profile.search}, titled "${h.title}"`);
			// the ones without a window answer at once
			if (!profile.searchParams.has('seconds')) {
				const r = await fetch(profile);
				check(r.status === 200, `index: ${l.row} "${l.label}" profile: status ${r.status}`);
			}
		}
		check(errors.length === 0, `index: no console error${errors.length ? ': ' + errors.join(' | ') : ''}`);

		// --- CPU: the demo's hot functions in the flame graph's table (it
		// sorts by self time and draws the rows on screen: those with
		// self time, hash_block and sort_records' comparator)
		const cpu = links.find(l => l.row === 'profile' && l.label === '5 s');
		let shown = await viewer(browser, cpu.href, ['hash_block', 'cmp_u32'], 'CPU 5 s');
		for (const fn of ['hash_block', 'cmp_u32'])
			check(shown.text.includes(fn), `CPU 5 s: the viewer shows ${fn}` +
			      (shown.text.includes(fn) ? '' : `; it shows: ${shown.text.slice(0, 600)}`));
		check(/^demo-target \(pid \d+\): CPU 5 s/.test(shown.title), `CPU 5 s: titled "${shown.title}"`);
		for (const [p, [status, type]] of served) {
			const want = wantType[path.extname(p)];
			if (want)
				check(status === 200 && type === want, `viewer file ${p}: ${status} ${type}`);
		}
		check(served.size >= 3, `the viewer's files came from ${mount}/ui/ (${served.size})`);

		// --- heap and allocs, in bytes and in objects: the demo's allocating
		// functions (new_batch's malloc is a tail call: sort_worker calls)
		for (const [row, label, fn] of [['heap', 'in-use bytes', 'remember_result'],
						['heap', 'in-use objects', 'remember_result'],
						['allocs', 'allocated bytes', 'sort_worker'],
						['allocs', 'allocated objects', 'sort_worker']]) {
			const l = links.find(x => x.row === row && x.label === label);
			shown = await viewer(browser, l.href, [fn], `${row} ${label}`);
			check(shown.text.includes(fn), `${row} ${label}: the viewer shows ${fn}` +
			      (shown.text.includes(fn) ? '' : `; it shows: ${shown.text.slice(0, 300)}`));
		}
		check(errors.length === 0, `viewer: no console error${errors.length ? ': ' + errors.join(' | ') : ''}`);
	} finally {
		await browser.close();
	}
	console.log(`${passes} passed, ${fails} failed`);
	process.exit(fails ? 1 : 0);
})().catch(e => {
	console.log(`FAIL - ${e.stack || e}`);
	console.log(`${passes} passed, ${fails + 1} failed`);
	process.exit(1);
});
