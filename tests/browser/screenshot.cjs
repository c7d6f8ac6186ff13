// The README's picture (make screenshot; checked by tests/e2e_browser.sh):
// the demo target's CPU flame graph as the index's "5 s" link opens it,
// left-heavy, in Debian's chromium, headless, driven by puppeteer-core.
//
//   node screenshot.cjs MODULES BASE MOUNT OUT.png
//
// MODULES, BASE, MOUNT as for viewer.cjs; BASIC_USER and BASIC_PASSWORD
// (environment), when set, log in. Exits non-zero, saying why, when the
// flame graph does not show.
'use strict';
const [modules, base, mount, out] = process.argv.slice(2);
const launch = require('./launch.cjs');

(async () => {
	const browser = await launch(modules, ['--hide-scrollbars']);
	try {
		const page = await browser.newPage();
		if (process.env.BASIC_USER)
			await page.authenticate({ username: process.env.BASIC_USER, password: process.env.BASIC_PASSWORD });
		await page.setViewport({ width: 1200, height: 560 });
		await page.goto(`${base}${mount}/`, { waitUntil: 'load' });
		const href = await page.$$eval('a.flame', as => {
			const a = as.find(x => x.closest('tr').querySelector('a').textContent === 'profile' &&
					  x.textContent === '5 s');
			return a && a.href;
		});
		if (!href)
			throw new Error(`no "5 s" CPU flame-graph link on ${base}${mount}/`);
		await page.goto(href, { waitUntil: 'load' });
		// our page hands the profile to speedscope's frame once taken;
		// then its canvas draws on the frame's next animation frames
		const frame = await (await page.waitForSelector('iframe#viewer:not([hidden])', { timeout: 90000 })).contentFrame();
		await frame.waitForFunction(() => document.body && /Left Heavy/.test(document.body.innerText) &&
					    document.querySelector('canvas'), { timeout: 60000, polling: 100 });
		const status = await page.$eval('#status', e => e.hidden ? '' : e.innerText);
		if (status)
			throw new Error(`the page shows: ${status}`);
		await frame.evaluate(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))));
		await page.screenshot({ path: out, type: 'png' });
		console.log(`wrote ${out}`);
	} finally {
		await browser.close();
	}
})().catch(e => {
	console.error(`screenshot: ${e.message || e}`);
	process.exit(1);
});
