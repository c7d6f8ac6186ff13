// Debian's chromium, headless, as viewer.cjs and screenshot.cjs run it:
// puppeteer-core from MODULES (no browser download), the system's browser
// ($CHROMIUM), a profile folder of the test's ($PROFILE_DIR), software
// WebGL for speedscope's canvas, nothing fetched but what the page asks.
'use strict';
const path = require('path');

module.exports = function launch(modules, extraArgs = []) {
	const puppeteer = require(path.join(modules, 'puppeteer-core'));
	return puppeteer.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		userDataDir: process.env.PROFILE_DIR,
		args: ['--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader',
		       '--disable-background-networking', '--disable-component-update',
		       '--disable-sync', '--no-first-run', '--disable-dev-shm-usage', ...extraArgs],
	});
};
