// pprof-fcgi's page in front of speedscope (flame.html):
//   flame.html#profileURL=<encodeURIComponent(URL)>&title=...&view=...
// the same hash speedscope's index.html reads. It takes the profile once
// (a CPU profile lasts its seconds: never twice), counting down while the
// server samples. An answer that is not 200 (401/403 from the web server,
// 400 for a bad parameter, 503 when the target is gone) is shown as the
// server wrote it: speedscope would say only "Unrecognized format!". A
// profile is handed to speedscope in the frame as a blob: URL, which lives
// as long as this page, so speedscope reads the same bytes, not the server.
'use strict';

// speedscope's own parser of its hash: key=encodeURIComponent(value)&...
function hashParams() {
	const out = {};
	for (const kv of window.location.hash.slice(1).split('&')) {
		const i = kv.indexOf('=');
		if (i > 0)
			out[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1));
	}
	return out;
}

const what = document.getElementById('what');
const detail = document.getElementById('detail');
const bodyText = document.getElementById('body');

function showError(head, text) {
	document.getElementById('status').className = 'error';
	what.textContent = head;
	detail.textContent = '';
	bodyText.textContent = text;
	bodyText.hidden = !text;
}

// The text of an error body: an HTML page (the web server's 401/403) as
// the words it shows, plain text (pprof-fcgi's) as it is.
function errorText(type, text) {
	if (/html/i.test(type)) {
		const doc = new DOMParser().parseFromString(text, 'text/html');
		text = doc.body ? doc.body.textContent : text;
	}
	return text.replace(/\n\s*\n+/g, '\n').trim();
}

// What is being taken, in words: "a 30 s CPU profile", "the heap profile".
const kinds = { profile: 'CPU', block: 'block', mutex: 'mutex', heap: 'heap',
		allocs: 'allocs', goroutine: 'thread', threadcreate: 'threadcreate' };
function describe(url) {
	const name = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
	const kind = kinds[name] || name;
	const seconds = Number(url.searchParams.get('seconds') || (name === 'profile' ? 30 : 0));
	return { seconds, words: seconds > 0 ? `a ${seconds} s ${kind} profile` : `the ${kind} profile` };
}

async function load() {
	const h = hashParams();
	if (!h.profileURL) {
		showError('no profile to show', 'This page opens a profile named in its address: ' +
			  'flame.html#profileURL=../profile%3Fseconds%3D10. Open it from the index.');
		return;
	}
	if (h.title)
		document.title = h.title;
	const url = new URL(h.profileURL, window.location.href);
	const { seconds, words } = describe(url);
	what.textContent = `taking ${words}…`;
	detail.textContent = h.title || '';
	let timer = null;
	if (seconds > 0) {
		const end = Date.now() + seconds * 1000;
		const tick = () => {
			const left = Math.ceil((end - Date.now()) / 1000);
			what.textContent = left > 0 ? `taking ${words}… ${left} s left`
				: `taking ${words}… symbolizing`;
		};
		tick();
		timer = setInterval(tick, 500);
	}
	let resp, bytes;
	try {
		resp = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
		bytes = await resp.arrayBuffer();
	} catch (e) {
		showError(`the profile could not be fetched: ${e.message}`, url.pathname + url.search);
		return;
	} finally {
		clearInterval(timer);
	}
	if (resp.status !== 200) {
		const text = new TextDecoder().decode(bytes);
		showError(`${resp.status} ${resp.statusText}`.trim(),
			  errorText(resp.headers.get('Content-Type') || '', text));
		return;
	}
	// speedscope fetches profileURL itself: give it these bytes
	const blob = URL.createObjectURL(new Blob([bytes]));
	let hash = `profileURL=${encodeURIComponent(blob)}`;
	for (const k of ['title', 'view'])
		if (h[k])
			hash += `&${k}=${encodeURIComponent(h[k])}`;
	// shown before it loads: speedscope sizes its views to the frame's
	const frame = document.getElementById('viewer');
	document.getElementById('status').hidden = true;
	frame.hidden = false;
	frame.addEventListener('load', () => frame.contentWindow.focus());
	frame.src = `index.html#${hash}`;
}

load();
