// The real-browser test of the viewer (run by tests/e2e_browser.sh):
// Debian's chromium, headless, driven by puppeteer-core, reads what the
// index and speedscope show through a real web server.
//
//   node viewer.cjs MODULES BASE MOUNT
//
// MODULES: the node_modules folder tools/fetch-viewer.sh --browser-test
// made; BASE: http://127.0.0.1:PORT; MOUNT: /v1/sys/pprof. The web server
// asks for credentials: the browser logs in as BASIC_USER, BASIC_PASSWORD
// (environment). TOKEN_ONLY_BASE, when set, is the same app behind a
// token-only variant (no token: 403) whose token is TOKEN; OTHER_SERVERS,
// "NAME=BASE ...", the same app behind other web servers, each checked by
// its index and one flame graph. Prints one line
// per check and "N passed, M failed"; exits non-zero on any failure.
'use strict';
const fs = require('fs');
const path = require('path');
const [modules, base, mount] = process.argv.slice(2);
const launch = require('./launch.cjs');

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

// the user the browser logs in as, and the same as a header for fetch
const login = { username: process.env.BASIC_USER, password: process.env.BASIC_PASSWORD };
const basic = 'Basic ' + Buffer.from(`${login.username}:${login.password}`).toString('base64');

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

// A tab that records console errors and the viewer's files as served, and
// logs in unless login is false; the sandwich table draws only the rows on
// screen: a tall one.
async function newPage(browser, { login: logIn = true } = {}) {
	const page = await browser.newPage();
	if (logIn && login.username)
		await page.authenticate(login);
	await page.setViewport({ width: 1400, height: 3000 });
	page.on('console', m => {
		if (m.type() === 'error')
			errors.push(`${m.text()} (${(m.location() || {}).url || ''})`);
	});
	page.on('pageerror', e => errors.push(String(e)));
	page.on('response', r => {
		const p = new URL(r.url()).pathname;
		// the first answer: a later visit may revalidate (304), which a
		// fresh checkout's new files make likely
		if (p.startsWith(`${mount}/ui/`) && !served.has(p))
			served.set(p, [r.status(), r.headers()['content-type']]);
	});
	return page;
}

// Opens the viewer at href (our page, flame.html, which shows speedscope in
// a frame) in a tab of its own (a new hash on the same page would not
// reload it), in speedscope's sandwich view (a DOM table of every
// function), and waits until each of names shows in some frame, or the
// page shows an error; returns the text shown, the tab's title and the
// requests for the profile. opts.before(page) runs before it loads;
// opts.login false: a tab that does not log in.
async function viewer(browser, href, names, what, opts = {}) {
	const url = href.replace('view=left-heavy', 'view=sandwich');
	const page = await newPage(browser, opts);
	const fetched = [];
	page.on('request', r => {
		const p = new URL(r.url()).pathname;
		if (p.startsWith(`${mount}/`) && !p.startsWith(`${mount}/ui/`))
			fetched.push(r.url());
	});
	if (opts.before)
		await opts.before(page);
	await page.goto(url, { waitUntil: 'load' });
	const first = await page.$eval('#what', e => e.textContent).catch(e => String(e));
	const end = Date.now() + (opts.timeout || 90000);
	let text = '';
	for (;;) {
		text = await allText(page);
		if (names.every(n => text.includes(n)) ||
		    /Unrecognized format|Something went wrong/.test(text) ||
		    await page.$('#status.error').catch(() => null))
			break;
		if (Date.now() > end) {
			console.log(`# ${what}: gave up waiting for ${names.join(', ')}`);
			break;
		}
		await new Promise(r => setTimeout(r, 250));
	}
	const shown = { text: await allText(page), title: await page.title().catch(() => ''),
			fetched, first, page };
	if (!opts.keep)
		await page.close();
	return shown;
}

// The words of an answer as our page shows them.
function words(t) { return t.replace(/\s+/g, ' ').trim(); }

// Through another web server at other: the index loads with its flame
// links, and the heap's in bytes shows the demo's allocating function.
async function otherServer(browser, name, other) {
	errors.length = 0;
	const page = await newPage(browser);
	const index = await page.goto(`${other}${mount}/`, { waitUntil: 'load' });
	const links = await page.$$eval('a.flame', as => as.map(a => ({
		href: a.href, label: a.textContent, row: a.closest('tr').querySelector('a').textContent })));
	await page.close();
	check(index.status() === 200 && links.length === 11,
	      `${name}: index ${index.status()} with ${links.length} flame-graph links, want 200 and 11`);
	const heap = links.find(l => l.row === 'heap' && l.label === 'in-use bytes');
	if (!heap)
		return;
	check(heap.href.startsWith(`${other}${mount}/ui/flame.html#`), `${name}: the heap link opens our page: ${heap.href}`);
	const shown = await viewer(browser, heap.href, ['remember_result'], `${name} heap`);
	check(shown.text.includes('remember_result'), `${name}: heap in-use bytes: the viewer shows remember_result` +
	      (shown.text.includes('remember_result') ? '' : `; it shows: ${shown.text.slice(0, 300)}`));
	check(errors.length === 0, `${name}: no console error${errors.length ? ': ' + errors.join(' | ') : ''}`);
}

// Opens href, whose profile answers WANT: the page shows the status and
// the server's text, as fetched here, and not speedscope's complaint.
async function errorShown(browser, href, want, what, opts = {}) {
	const profile = new URL(hashParams(href).profileURL, href);
	const r = await fetch(profile, { headers: opts.fetchHeaders || { Authorization: basic } });
	// an HTML page (the web server's) as its body's words
	let text = await r.text();
	if (/html/.test(r.headers.get('content-type') || ''))
		text = text.replace(/^[^]*<body[^>]*>/i, '').replace(/<[^>]*>/g, ' ');
	text = words(text);
	check(r.status === want, `${what}: ${profile.pathname}${profile.search} answers ${r.status}, want ${want}`);
	const shown = await viewer(browser, href, ['\u0000'], what, opts);
	const got = words(shown.text);
	check(got.startsWith(`${want} `) && got.includes(text) && !/Unrecognized format/.test(got),
	      `${what}: the page shows "${got.slice(0, 300)}", want ${want} and "${text.slice(0, 200)}"`);
}

(async () => {
	const browser = await launch(modules);
	try {
		const page = await newPage(browser);

		// --- without credentials: 401 for the index, the viewer and the
		// profiles alike (a browser without a user to give cancels the
		// navigation: asked here as it would ask)
		for (const p of ['/', '/ui/flame.html', '/ui/index.html', '/heap']) {
			const r = await fetch(`${base}${mount}${p}`);
			check(r.status === 401 && /^Basic /.test(r.headers.get('www-authenticate') || ''),
			      `without credentials: ${mount}${p} is ${r.status} asking for a user (want 401)`);
		}

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
			check(u.pathname === `${mount}/ui/flame.html` && profile.pathname === `${mount}/${l.row}` &&
			      profile.origin === new URL(base).origin && h.view === 'left-heavy' &&
			      new RegExp(`^${comm} \\(pid \\d+\\): `).test(h.title),
			      `index: ${l.row} "${l.label}" opens the viewer on ${profile.pathname}${profile.search}, titled "${h.title}"`);
			// the ones without a window answer at once
			if (!profile.searchParams.has('seconds')) {
				const r = await fetch(profile, { headers: { Authorization: basic } });
				check(r.status === 200, `index: ${l.row} "${l.label}" profile: status ${r.status}`);
			}
		}
		check(errors.length === 0, `index: no console error${errors.length ? ': ' + errors.join(' | ') : ''}`);

		// --- CPU: the demo's hot functions in the flame graph's table (it
		// sorts by self time and draws the rows on screen: those with
		// self time, hash_block, fold_block inlined into it, and
		// sort_records' comparator)
		const cpu = links.find(l => l.row === 'profile' && l.label === '5 s');
		const hot = ['hash_block', 'fold_block', 'cmp_u32'];
		let shown = await viewer(browser, cpu.href, hot, 'CPU 5 s');
		for (const fn of hot)
			check(shown.text.includes(fn), `CPU 5 s: the viewer shows ${fn}` +
			      (shown.text.includes(fn) ? '' : `; it shows: ${shown.text.slice(0, 600)}`));
		check(/^demo-target \(pid \d+\): CPU 5 s/.test(shown.title), `CPU 5 s: titled "${shown.title}"`);
		// our page counts down while the server samples
		check(/^taking a 5 s CPU profile… [1-5] s left$/.test(shown.first),
		      `CPU 5 s: while it is taken, the page says "${shown.first}"`);
		// without inlines=split speedscope reads one line per location:
		// the inlined function is gone, its caller named instead (the
		// table is drawn whole: once hash_block shows, all rows do)
		const whole = await viewer(browser, cpu.href.replace('%26inlines%3Dsplit', '').replace('seconds%3D5', 'seconds%3D2'),
					   ['hash_block', 'cmp_u32'], 'CPU 2 s without inlines=split');
		check(whole.text.includes('hash_block') && !whole.text.includes('fold_block'),
		      'CPU 2 s without inlines=split: hash_block shown, the inlined fold_block not');
		check(shown.fetched.length === 1, `CPU 5 s: the profile taken once: ${shown.fetched.join(' ')}`);
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

		// --- the other web servers: the index, its links, one flame graph
		for (const ns of (process.env.OTHER_SERVERS || '').split(' ').filter(Boolean)) {
			const [name, other] = ns.split('=');
			await otherServer(browser, name, other);
		}

		// --- an error answer reads as the server wrote it, not as
		// speedscope's "Unrecognized format!": a bad parameter (400), and
		// a target gone (503; the target is killed: last)
		const heap = links.find(l => l.row === 'heap' && l.label === 'in-use bytes');
		const bad = heap.href.replace('sample_index%3Dinuse_space', 'sample_index%3Dnosuch');
		await errorShown(browser, bad, 400, 'bad sample_index');
		// a web server's refusal of the profile alone (the token sent with
		// the viewer's files only)
		if (process.env.TOKEN_ONLY_BASE) {
			const u = new URL(heap.href), other = new URL(process.env.TOKEN_ONLY_BASE);
			u.host = other.host;
			await errorShown(browser, u.href, 403, 'profile refused by the web server', {
				login: false, fetchHeaders: {},
				before: async page => {
					await page.setRequestInterception(true);
					page.on('request', r => {
						const ui = new URL(r.url()).pathname.startsWith(`${mount}/ui/`);
						r.continue(ui ? { headers: { ...r.headers(), 'x-vault-token': process.env.TOKEN } } : {});
					});
				},
			});
		}
		const pid = Number(/\(pid (\d+)\)/.exec(hashParams(cpu.href).title)[1]);
		const tracers = fs.readdirSync(`/proc/${pid}/task`).map(t =>
			/TracerPid:\t(\d+)/.exec(fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'))[1]);
		check(tracers.every(t => t === '0'), `target untraced after the browser's profiles: ${tracers.join(' ')}`);
		process.kill(pid, 'SIGKILL');
		for (let i = 0; i < 200 && fs.existsSync(`/proc/${pid}/status`) &&
		     !/State:\tZ/.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')); i++)
			await new Promise(r => setTimeout(r, 50));
		await errorShown(browser, cpu.href, 503, 'target gone');
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
