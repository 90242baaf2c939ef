// kafka-lab's lab page: the workshop's section 3 page, plus what Kafka does behind it.
//
// Every second the page asks the producer and each consumer how they are:
//   producer  GET /ping            "pong" means online; the Send Event button is disabled otherwise
//   consumer  GET /ping            "pong:<group>": online, and the name of its consumer group
//             GET /status          which partitions it owns, in which generation of the group
//             GET /events?after=N  the events it consumed after number N (nothing is removed, so two open
//                                  tabs both see everything); an old consumer without it gets GET /
// Which services to ask is kept in the page's address: ?producer=URL&consumers=8000,8001,http://host:8084
// Plain JavaScript, no build step, no request to any other host.
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

// A stable colour per consumer group. The workshop says first-group is blue and second-group orange;
// any other name gets a hue computed from its letters, so it is the same in every tab and on every reload.
function groupColour(name) {
  const pinned = { 'first-group': '#1d4ed8', 'second-group': '#c2410c' };
  if (pinned[name]) return pinned[name];
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${hash % 360} 70% 34%)`;
}

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

// ---------------------------------------------------------------------------------------------------------
// The producer

let nextId = 1;
let sentCount = 0;
let producerBusy = false;

async function pollProducer() {
  if (producerBusy) return;
  producerBusy = true;
  let online = false;
  try {
    const response = await get(`${producerUrl}/ping`);
    online = response.ok && (await response.text()) === 'pong';
  } catch {
    online = false;
  }
  producerBusy = false;
  const status = $('#producer-status');
  status.textContent = online ? 'Online' : 'Offline';
  status.className = `status ${online ? 'online' : 'offline'}`;
  $('#send').disabled = !online;
}

async function sendEvent() {
  const event = { id: nextId++, clicked: clock() };
  const last = $('#last-sent');
  try {
    const response = await fetch(`${producerUrl}/`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(10 * TIMEOUT_MS),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    sentCount += 1;
    $('#sent-count').textContent = `Events sent: ${sentCount}`;
    last.replaceChildren(`id ${event.id} → `, partitionChip(answer.partition), ` offset ${answer.offset}`);
    last.className = 'muted';
  } catch (error) {
    last.textContent = `id ${event.id} was not sent: ${error.message}`;
    last.className = 'error';
  }
}

// ---------------------------------------------------------------------------------------------------------
// The consumers: one panel each

const consumers = [];

function consumerName(url) {
  const parsed = new URL(url);
  return parsed.hostname === pageHost ? `Consumer :${parsed.port || 80}` : `Consumer ${parsed.host}`;
}

function createConsumer(url) {
  const panel = $('#consumer-template').content.firstElementChild.cloneNode(true);
  const c = {
    url,
    name: consumerName(url),
    panel,
    online: null, // unknown until the first answer
    group: null,
    after: 0, // the last event number seen, for /events?after=
    legacy: false, // an old consumer without /events: read (and drain) GET / instead
    noStatus: false, // an old consumer without /status
    seen: new Set(), // group/partition/offset of every event shown, so nothing is shown twice
    memberId: null,
    assignment: null, // { generation, partitions } when last stable
    received: 0,
    dropped: 0,
    busy: false,
    removed: false,
  };
  panel.dataset.url = url;
  panel.setAttribute('aria-label', `${c.name} at ${url}`);
  $('.name', panel).textContent = c.name;
  const input = $('.url-input', panel);
  input.value = url;
  input.setAttribute('aria-label', `URL of ${c.name}`);
  input.addEventListener('change', () => replaceConsumer(c, input));
  const clear = $('.clear', panel);
  clear.setAttribute('aria-label', `Clear the events of ${c.name}`);
  clear.addEventListener('click', () => {
    $('.events', panel).replaceChildren();
    updateCount(c);
  });
  const remove = $('.remove', panel);
  remove.setAttribute('aria-label', `Remove ${c.name}`);
  remove.addEventListener('click', () => removeConsumer(c));
  updateCount(c);
  return c;
}

function addConsumer(url) {
  const c = createConsumer(url);
  consumers.push(c);
  $('#consumers').append(c.panel);
  pollConsumer(c);
}

function removeConsumer(c) {
  c.removed = true;
  consumers.splice(consumers.indexOf(c), 1);
  c.panel.remove();
  saveToAddress();
}

function replaceConsumer(c, input) {
  const url = toUrl(input.value);
  if (!url) {
    input.setAttribute('aria-invalid', 'true');
    return;
  }
  const fresh = createConsumer(url);
  c.removed = true;
  consumers[consumers.indexOf(c)] = fresh;
  c.panel.replaceWith(fresh.panel);
  saveToAddress();
  pollConsumer(fresh);
}

async function pollConsumer(c) {
  if (c.busy || c.removed) return;
  c.busy = true;
  try {
    let group;
    try {
      const response = await get(`${c.url}/ping`);
      const text = await response.text();
      if (!response.ok || !text.startsWith('pong')) throw new Error('no pong');
      group = text.slice(5); // "pong:first-group" → "first-group", as the original page does
    } catch {
      if (!c.removed) showOnline(c, false);
      return;
    }
    if (c.removed) return;
    if (c.online !== true || group !== c.group) c.after = 0; // a restarted consumer numbers from 1 again
    showOnline(c, true);
    showGroup(c, group);
    const [status, batch] = await Promise.all([fetchStatus(c), fetchEvents(c)]);
    if (c.removed) return;
    if (status) showStatus(c, status);
    else showOlderConsumer(c);
    showEvents(c, batch);
  } catch (error) {
    showNote(c, `Could not read this consumer: ${error.message}`);
  } finally {
    c.busy = false;
  }
}

async function fetchStatus(c) {
  if (c.noStatus) return null;
  const response = await get(`${c.url}/status`);
  if (response.status === 404) c.noStatus = true; // an older consumer (the workshop's Python one) has none
  return response.ok ? response.json() : null;
}

function showOlderConsumer(c) {
  $('.partitions', c.panel).textContent = 'partitions not reported (no /status)';
  showNote(c, c.legacy ? 'An older consumer: this tab reads its events with GET /, which hands each event to one tab only.' : '');
}

// The next events, as [{ partition, offset, event }], oldest first.
async function fetchEvents(c) {
  if (!c.legacy) {
    const response = await get(`${c.url}/events?after=${c.after}&limit=200`);
    if (response.status === 404) {
      c.legacy = true;
    } else {
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
      // (A consumer that restarted numbers its events from 1 again, and answers an `after` beyond its newest
      // event from its first one, so `next` may go down.)
      c.after = body.next;
      c.dropped += body.dropped || 0;
      return body.events;
    }
  }
  const response = await get(`${c.url}/`); // the original, draining read: only one tab sees each event
  const events = await response.json();
  return events.map((event) => ({ event }));
}

function showOnline(c, online) {
  if (c.online === online) return;
  if (c.online !== null) addMarker(c, online ? 'Back online' : 'Went offline');
  c.online = online;
  c.legacy = false; // whoever answers next may be another program: ask it for /events and /status again
  c.noStatus = false;
  const status = $('.status', c.panel);
  status.textContent = online ? 'Online' : 'Offline';
  status.className = `status ${online ? 'online' : 'offline'}`;
  c.panel.classList.toggle('is-offline', !online);
  if (!online) {
    $('.group', c.panel).textContent = '';
    $('.partitions', c.panel).replaceChildren();
    $('.generation', c.panel).textContent = '';
    $('.rebalanced', c.panel).hidden = true;
    c.assignment = null;
    const port = new URL(c.url).port;
    showNote(c, `No answer from ${c.url}.` + (port ? ` Is a consumer running with PORT=${port}?` : ''));
  }
}

function showGroup(c, group) {
  if (group !== c.group) {
    if (c.group !== null) addMarker(c, `Now in group ${group}`, true);
    c.group = group;
    c.assignment = null;
  }
  const badge = $('.group', c.panel);
  badge.textContent = group;
  badge.style.color = groupColour(group);
  badge.setAttribute('aria-label', `Group ${group}`);
  c.panel.style.setProperty('--group', groupColour(group));
}

// Owned partitions and generation, and a mark when a rebalance moved partitions.
function showStatus(c, status) {
  const owned = status.partitions.map((p) => p.partition).sort((a, b) => a - b);
  const chips = $('.partitions', c.panel);
  chips.replaceChildren(owned.length ? 'owns ' : 'owns no partition');
  for (const p of [...status.partitions].sort((a, b) => a.partition - b.partition)) {
    const lag = p.lag ? ` lag ${p.lag}` : '';
    const chip = partitionChip(p.partition, `P${p.partition}${lag}`);
    chip.title = `partition ${p.partition}: committed ${p.committed ?? '–'}, read up to ${p.position ?? '–'}, ` +
      `end ${p.high_watermark ?? '–'}`;
    chips.append(chip, ' ');
  }
  if (status.topic_partitions != null) chips.append(`of ${status.topic_partitions}`);

  const facts = [];
  if (status.generation != null) facts.push(`generation ${status.generation}`);
  if (status.members != null) facts.push(`${status.members} member${status.members === 1 ? '' : 's'}`);
  if (status.leader) facts.push('leader');
  if (status.state !== 'stable') facts.push(status.state.replace('_', ' '));
  $('.generation', c.panel).textContent = facts.join(' · ');

  showNote(c, status.last_error || status.idle_reason || '');

  if (status.member_id !== c.memberId) {
    if (c.memberId !== null) c.after = 0; // a new consumer process (or a new membership): re-read, de-duplicated
    c.memberId = status.member_id;
  }
  if (status.state !== 'stable' || status.generation == null) return;
  const before = c.assignment;
  c.assignment = { generation: status.generation, partitions: owned };
  if (!before || before.generation === status.generation) return;
  const moved = before.partitions.join() !== owned.join();
  addMarker(c, `Rebalance: generation ${before.generation} → ${status.generation}, ` +
    (moved ? `partitions ${listOf(before.partitions)} → ${listOf(owned)}` : 'same partitions'), moved);
  if (moved) {
    const mark = $('.rebalanced', c.panel);
    mark.textContent = `⟳ partitions moved at ${clock().slice(0, 8)}`;
    mark.hidden = false;
    clearTimeout(c.markTimer);
    c.markTimer = setTimeout(() => { mark.hidden = true; }, 20000);
  }
}

function showNote(c, text) {
  const note = $('.note', c.panel);
  const dropped = c.dropped ? `${c.dropped} event(s) were dropped by the consumer before this page read them. ` : '';
  note.textContent = dropped + text;
  note.hidden = !note.textContent;
}

function showEvents(c, batch) {
  const list = $('.events', c.panel);
  for (const item of batch) {
    const key = item.partition != null ? `${c.group}/${item.partition}/${item.offset}` : null;
    if (key) {
      if (c.seen.has(key)) continue;
      c.seen.add(key);
    }
    c.received += 1;
    list.prepend(eventRow(item)); // newest first
  }
  while (list.children.length > KEEP_EVENTS) list.lastElementChild.remove();
  updateCount(c);
}

// One event: its partition and offset, the original "key: value; ..." line, and the time each step took.
function eventRow({ partition, offset, event }) {
  const row = document.createElement('li');
  row.className = 'event';
  if (partition != null) {
    row.dataset.partition = partition;
    row.dataset.offset = offset;
    row.append(partitionChip(partition, `P${partition} · ${offset}`));
  }
  const object = event && typeof event === 'object' ? event : { raw: JSON.stringify(event) };
  if (object.id != null) row.dataset.id = object.id;
  if (object.error) row.classList.add('invalid');
  const line = document.createElement('span');
  line.className = 'fields';
  line.textContent = Object.entries(object)
    .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join('; ');
  row.append(line);

  // How long each step took, from the three stamps: the page's click, the producer's, the consumer's.
  const steps = [
    ['click→produced', gap(object.clicked, object.produced)],
    ['produced→consumed', gap(object.produced, object.consumed)],
    ['total', gap(object.clicked, object.consumed)],
  ].filter(([, ms]) => ms !== null);
  if (steps.length) {
    const times = document.createElement('span');
    times.className = 'times';
    times.textContent = steps.map(([step, ms]) => `${step} ${duration(ms)}`).join(' · ');
    row.append(times);
  }
  return row;
}

function addMarker(c, text, strong = false) {
  const row = document.createElement('li');
  row.className = strong ? 'marker strong' : 'marker';
  row.textContent = `${clock().slice(0, 8)} ${text}`;
  $('.events', c.panel).prepend(row);
}

function updateCount(c) {
  const shown = $('.events', c.panel).querySelectorAll('.event').length;
  $('.count', c.panel).textContent = `${shown} shown · ${c.received} received`;
}

// ---------------------------------------------------------------------------------------------------------
// Start: wire the controls, build the panels, poll every second.

function pollAll() {
  pollProducer();
  consumers.forEach(pollConsumer);
}

$('#send').addEventListener('click', sendEvent);

const producerInput = $('#producer-url');
producerInput.value = producerUrl;
producerInput.addEventListener('change', () => {
  const url = toUrl(producerInput.value);
  producerInput.toggleAttribute('aria-invalid', !url);
  if (!url) return;
  producerUrl = url;
  producerInput.value = url;
  saveToAddress();
  pollProducer();
});

$('#add-consumer').addEventListener('submit', (submit) => {
  submit.preventDefault();
  const input = $('#new-consumer');
  const url = toUrl(input.value);
  input.toggleAttribute('aria-invalid', !url);
  if (!url) return;
  input.value = '';
  addConsumer(url);
  saveToAddress();
});

startUrls.forEach(addConsumer);
saveToAddress();
setInterval(pollAll, POLL_MS);
pollProducer();
