// kafka-lab's lab page, part 2 of 3: one panel per consumer. Each panel shows whether its consumer is
// online, its group (a colour per group name), the partitions it owns in which generation (classic protocol)
// or member epoch (consumer protocol, KIP-848), a mark when a rebalance moved partitions (under the consumer
// protocol: which partitions it kept fetching throughout), and the events it consumed, newest first, each
// with its partition and offset.

'use strict';

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
    run: null, // the consumer's run those numbers belong to, for /events?run=
    legacy: false, // an old consumer without /events: read (and drain) GET / instead
    noStatus: false, // an old consumer without /status
    seen: new Set(), // group/partition/offset of every event shown, so nothing is shown twice
    assignment: null, // { round, partitions } when last stable (round: the generation or the member epoch)
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
    if (group !== c.group) c.after = 0; // another consumer answers here now: read it from the start
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

// The next events, as [{ partition, offset, event }], oldest first: a few pages when the consumer has more.
async function fetchEvents(c) {
  if (!c.legacy) {
    const events = [];
    for (let page = 0; page < 5; page += 1) {
      const body = await fetchPage(c);
      if (!body) break;
      events.push(...body.events);
      if (!body.more) return events;
    }
    if (!c.legacy) return events;
  }
  const response = await get(`${c.url}/`); // the original, draining read: only one tab sees each event
  const events = await response.json();
  return events.map((event) => ({ event }));
}

// One page of /events after this panel's cursor, or null from an older consumer without it.
async function fetchPage(c) {
  const run = c.run ? `&run=${encodeURIComponent(c.run)}` : '';
  const response = await get(`${c.url}/events?after=${c.after}${run}&limit=1000`);
  if (response.status === 404) {
    c.legacy = true;
    return null;
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  showGap(c, body.gap);
  c.after = body.next;
  c.run = body.run ?? null;
  return body;
}

// A cursor the consumer could not follow exactly: it restarted (another run), or dropped events first.
function showGap(c, gap) {
  if (!gap) return;
  if (gap.reason === 'other_run') {
    // Events are shown once per partition and offset, so reading the new run from its start repeats none.
    if (c.run !== null) addMarker(c, 'The consumer restarted: reading it again from its first event held', true);
  } else {
    c.dropped += gap.missed || 0;
  }
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

  const consumerProtocol = status.protocol === 'consumer';
  const round = consumerProtocol ? status.epoch : status.generation;
  const roundName = consumerProtocol ? 'epoch' : 'generation';
  const facts = [];
  if (status.protocol) facts.push(`${status.protocol} protocol`);
  if (round != null) facts.push(`${roundName} ${round}`);
  if (status.members != null) facts.push(`${status.members} member${status.members === 1 ? '' : 's'}`);
  if (status.leader) facts.push('leader');
  if (status.state !== 'stable') facts.push(status.state.replace('_', ' '));
  if (status.target) facts.push(`target ${listOf(status.target)}`);
  $('.generation', c.panel).textContent = facts.join(' · ');

  showNote(c, consumerNotes(status));

  if (status.state !== 'stable' || round == null) return;
  const before = c.assignment;
  c.assignment = { round, partitions: owned };
  if (!before || before.round === round) return;
  const moved = before.partitions.join() !== owned.join();
  addMarker(c, `Rebalance: ${roundName} ${before.round} → ${round}, ` +
    (moved ? movedText(before.partitions, owned, consumerProtocol) : 'same partitions'), moved);
  if (moved) {
    const mark = $('.rebalanced', c.panel);
    mark.textContent = `⟳ partitions moved at ${clock().slice(0, 8)}`;
    mark.hidden = false;
    clearTimeout(c.markTimer);
    c.markTimer = setTimeout(() => { mark.hidden = true; }, 20000);
  }
}

// "partitions 0, 1 → 0"; under the consumer protocol also which ones were fetched throughout (an incremental
// rebalance stops only the partitions that move).
function movedText(before, after, consumerProtocol) {
  const text = `partitions ${listOf(before)} → ${listOf(after)}`;
  const kept = before.filter((p) => after.includes(p));
  if (!consumerProtocol || !kept.length) return text;
  return `${text} (${listOf(kept.map((p) => `P${p}`))} kept fetching throughout)`;
}

// What the consumer has to say: the topic gone, fetching paused for readers, the last reset, errors.
function consumerNotes(status) {
  const reset = (status.resets || []).at(-1);
  const resetNote = reset
    ? `Partition ${reset.partition} was reset at ${reset.at.slice(0, 8)} from offset ${reset.from} to ` +
      `${reset.to} (${reset.reason}): ${reset.skipped} event(s) skipped` +
      (reset.gone ? `, ${reset.gone} no longer in the log.` : '.')
    : null;
  return [status.topic_missing, status.paused, resetNote, status.last_error, status.idle_reason]
    .filter(Boolean)
    .join(' ');
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
