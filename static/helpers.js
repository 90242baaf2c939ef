// kafka-lab's lab page: settings, small helpers, and which services to ask.
// app.js says what the page does and lists its files. Plain scripts, loaded in order.

'use strict';

const POLL_MS = 1000; // how often to ask, as in the original page
const TIMEOUT_MS = 2500; // a service that takes longer than this counts as offline
const KEEP_EVENTS = 300; // rows kept per panel; older ones are removed from the page

// ---------------------------------------------------------------------------------------------------------
// Small helpers

const $ = (selector, root = document) => root.querySelector(selector);

// The wall-clock time as HH:MM:SS:mmm, the format the producer and consumers use.
function clock(date = new Date()) {
  const two = (n) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}:` +
    String(date.getMilliseconds()).padStart(3, '0');
}

// "HH:MM:SS:mmm" → milliseconds since midnight, or null.
function parseClock(stamp) {
  const parts = String(stamp ?? '').split(':').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isFinite(n))) return null;
  const [h, m, s, ms] = parts;
  return ((h * 60 + m) * 60 + s) * 1000 + ms;
}

// Milliseconds from one stamp to the next (across midnight too), or null.
function gap(from, to) {
  const a = parseClock(from);
  const b = parseClock(to);
  if (a === null || b === null) return null;
  const day = 24 * 3600 * 1000;
  return ((b - a + day + day / 2) % day) - day / 2;
}

const duration = (ms) => (Math.abs(ms) < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

async function get(url) {
  const response = await fetch(url, { cache: 'no-store', signal: AbortSignal.timeout(TIMEOUT_MS) });
  return response;
}

// A stable colour per consumer group (first-group blue and second-group orange, as the workshop says; any
// other name a hue from its letters). cluster-model.js also gives each group a glyph and a line pattern.
const groupColour = (name) => groupStyle(name).colour;

// A distinct tint per partition number, so the split between consumers is visible at a glance.
const partitionHue = (partition) => (200 + partition * 137.5) % 360;

function partitionChip(partition, text = `P${partition}`) {
  const chip = document.createElement('span');
  chip.className = 'chip';
  chip.style.setProperty('--hue', partitionHue(partition));
  chip.textContent = text;
  return chip;
}

const listOf = (numbers) => (numbers.length ? numbers.join(', ') : 'none');

// ---------------------------------------------------------------------------------------------------------
// Which services: from the page's address, so that a link reproduces the view.

const pageHost = location.hostname || 'localhost';
const pageOrigin = location.protocol.startsWith('http') ? location.origin : 'http://localhost:5000';

// "8084" → http://<this page's host>:8084; "host:8084" → http://host:8084; a full URL stays as it is.
function toUrl(text) {
  let url = String(text).trim().replace(/\/+$/, '');
  if (/^\d+$/.test(url)) url = `http://${pageHost}:${url}`;
  else if (!/^https?:\/\//i.test(url)) url = `http://${url}`;
  try {
    const parsed = new URL(url);
    return parsed.origin + parsed.pathname.replace(/\/+$/, '');
  } catch {
    return null;
  }
}

// The reverse, for the address bar: just the port when the consumer is on this page's host.
function toShort(url) {
  const parsed = new URL(url);
  const onPageHost = parsed.protocol === 'http:' && parsed.hostname === pageHost && parsed.pathname === '/';
  return onPageHost && parsed.port ? parsed.port : url;
}

const params = new URLSearchParams(location.search);
let producerUrl = (params.has('producer') && toUrl(params.get('producer'))) || pageOrigin;
const startUrls = params.has('consumers')
  ? params.get('consumers').split(',').map(toUrl).filter(Boolean)
  : [toUrl('8000'), toUrl('8001')];

function saveToAddress() {
  const keep = (text) => text.replace(/[%&#+\s]/g, encodeURIComponent);
  const query = [];
  if (producerUrl !== pageOrigin) query.push(`producer=${keep(producerUrl)}`);
  query.push(`consumers=${consumers.map((c) => keep(toShort(c.url))).join(',')}`);
  history.replaceState(null, '', `${location.pathname}?${query.join('&')}`);
}
