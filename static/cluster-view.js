// kafka-lab's lab page: the cluster as Kafka sees it. Every second it asks the producer for GET /cluster
// (naming the consumers the page shows, whose /status completes the view) and draws the diagram
// (cluster-diagram.js), the lag per partition, and a timeline per group of the rebalances the producer
// recorded. Then it hands the view to the guide (guide.js).

'use strict';

const TIMELINE_MS = 5 * 60 * 1000; // the time axis spans the last five minutes
const MOVE_SHOWN_MS = 30 * 1000; // how long a partition shows that its leader moved

const cluster = {
  answer: null,
  model: null,
  busy: false,
  missing: false, // an older producer without /cluster
  labels: new Map(), // member id → label, kept after the member left (the history names it)
  moves: new Map(), // partition → { from, to, until }
  drawn: {}, // what each part was last drawn from: it is redrawn only when that changes
};

// Redraws one part of the card only when what it shows changed (most seconds nothing does).
function redraw(part, key, draw) {
  if (cluster.drawn[part] === key) return;
  cluster.drawn[part] = key;
  draw();
}

const labelOf = (id) => cluster.labels.get(id) || `member ${shortId(id)}`;
const narrowScreen = () => window.matchMedia('(max-width: 700px)').matches;

function clusterUrl() {
  const list = consumers.map((c) => encodeURIComponent(c.url)).join(',');
  const topic = params.get('topic');
  return `${producerUrl}/cluster?${topic ? `topic=${encodeURIComponent(topic)}&` : ''}consumers=${list}`;
}

async function pollCluster() {
  if (cluster.busy || cluster.missing) return;
  cluster.busy = true;
  try {
    const response = await fetch(clusterUrl(), { cache: 'no-store', signal: AbortSignal.timeout(4 * TIMEOUT_MS) });
    if (response.status === 404) {
      cluster.missing = true;
      showClusterStatus('This producer has no /cluster: the diagram needs kafka-lab\'s producer.', 'error');
      return;
    }
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    showCluster(answer);
  } catch (error) {
    showClusterStatus(`The cluster view is unavailable (${error.message}); is the producer running?`, 'error');
  } finally {
    cluster.busy = false;
  }
}

function showCluster(answer) {
  const names = Object.fromEntries(consumers.map((c) => [c.url, c.name]));
  const model = clusterModel(answer, names);
  for (const entry of answer.history || []) {
    for (const owner of [...entry.before, ...entry.after]) {
      if (!cluster.labels.has(owner.member_id)) cluster.labels.set(owner.member_id, memberLabel(owner, names));
    }
  }
  for (const g of model.groups) for (const m of g.members) cluster.labels.set(m.id, m.label);
  noteLeaderMoves(model);
  cluster.answer = answer;
  cluster.model = model;
  const age = answer.age_ms >= 1500 ? `, ${seconds(answer.age_ms)} old` : '';
  showClusterStatus(model.error
    ? `The cluster cannot be read: ${model.error}`
    : `As Kafka sees it at ${answer.observed_at.slice(0, 8)}${age}.`, model.error ? 'error' : 'muted');
  const moves = {};
  for (const [partition, move] of cluster.moves) if (move.until > Date.now()) moves[partition] = move;
  const narrow = narrowScreen();
  redraw('diagram', JSON.stringify([model, moves, narrow]), () => drawDiagram($('#diagram'), model, moves, narrow));
  redraw('lag', JSON.stringify([model.partitions, model.groups.map((g) => [g.name, g.lag, g.members])]), () => showLagTable(model));
  const history = answer.history || [];
  const last = history.length ? history[history.length - 1].seq : 0;
  const groups = model.groups.map((g) => g.name).join();
  // The bars drift left as time passes: redrawn every 5 s, and at once when a rebalance or a group comes.
  redraw('timeline', `${last} ${groups} ${Math.floor(Date.now() / 5000)}`, () => showTimeline(history));
  announceRebalances(answer.history || []);
  if (typeof updateGuide === 'function') updateGuide(model, answer);
}

function showClusterStatus(text, kind) {
  const status = $('#cluster-status');
  status.textContent = text;
  status.className = kind;
}

// A partition whose leader changed since the last view: marked in the diagram and said in the notes.
function noteLeaderMoves(model) {
  const moved = cluster.model ? leaderMoves(cluster.model.partitions, model.partitions) : [];
  for (const move of moved) {
    cluster.moves.set(move.partition, { ...move, until: Date.now() + MOVE_SHOWN_MS });
    const note = document.createElement('li');
    note.textContent = `${clock().slice(0, 8)} P${move.partition}: leader broker ${move.from ?? 'none'} → ` +
      `${move.to === null || move.to === undefined ? 'none (offline)' : `broker ${move.to}`}`;
    $('#cluster-notes').prepend(note);
  }
  const notes = $('#cluster-notes');
  while (notes.children.length > 8) notes.lastElementChild.remove();
}

// The lag table: per partition its leader and end, and per group who reads it, committed offset and lag.
function showLagTable(model) {
  const table = $('#lag-table');
  const head = document.createElement('tr');
  for (const title of ['Partition', 'Leader', 'End offset', ...model.groups.map((g) => `${g.style.glyph} ${g.name}`)]) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = title;
    head.append(th);
  }
  const rows = model.partitions.map((p) => {
    const tr = document.createElement('tr');
    tr.dataset.partition = p.partition;
    const th = document.createElement('th');
    th.scope = 'row';
    th.append(partitionChip(p.partition));
    tr.append(th, cell(p.leader === null || p.leader === undefined ? 'none (offline)' : `broker ${p.leader}`), cell(p.end ?? '?'));
    for (const g of model.groups) tr.append(groupCell(g, p.partition));
    return tr;
  });
  $('thead', table).replaceChildren(head);
  $('tbody', table).replaceChildren(...rows);
  table.hidden = !model.partitions.length;
}

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function groupCell(group, partition) {
  const progress = group.lag[partition] || {};
  const owner = group.members.find((m) => m.partitions.includes(partition));
  const td = cell([
    owner ? owner.label : 'unassigned',
    progress.committed === null || progress.committed === undefined ? 'no commit' : `committed ${progress.committed}`,
    progress.lag === null || progress.lag === undefined ? '' : `lag ${progress.lag}`,
  ].filter(Boolean).join(' · '));
  td.dataset.group = group.name;
  td.dataset.lag = progress.lag ?? '';
  td.style.setProperty('--group', group.style.colour);
  if (progress.lag > 0) td.classList.add('behind');
  return td;
}

// Says the newest rebalance once (the timeline itself is redrawn every second, so it is not a live region).
function announceRebalances(history) {
  const newest = history[history.length - 1];
  if (!newest || newest.seq === cluster.announced) return;
  const first = cluster.announced === undefined;
  cluster.announced = newest.seq;
  if (!first) $('#cluster-announce').textContent = `${newest.group} rebalanced: ${rebalanceText(newest, labelOf)}`;
}

// A timeline per group: its rebalances on a five-minute axis (a bar per pause), and in words, newest first.
function showTimeline(history) {
  const now = Date.now();
  const timelines = timelineModel(history, labelOf, now, TIMELINE_MS);
  const known = new Set(timelines.map((t) => t.name));
  for (const g of cluster.model.groups) {
    if (!known.has(g.name)) timelines.push({ name: g.name, style: g.style, entries: [] });
  }
  timelines.sort((a, b) => a.name.localeCompare(b.name));
  $('#timeline').replaceChildren(...timelines.map(groupTimeline));
}

function groupTimeline(timeline) {
  const section = document.createElement('section');
  section.className = 'timeline-group';
  section.dataset.group = timeline.name;
  section.style.setProperty('--group', timeline.style.colour);
  const title = document.createElement('h4');
  title.textContent = `${timeline.style.glyph} ${timeline.name}`;
  const track = document.createElement('div');
  track.className = 'track';
  track.setAttribute('aria-hidden', 'true');
  track.style.setProperty('--dash', timeline.style.dash ? 'dashed' : 'solid');
  for (const entry of timeline.entries.filter((e) => e.visible)) {
    const bar = document.createElement('span');
    bar.className = 'pause';
    bar.style.left = `${(entry.x * 100).toFixed(2)}%`;
    bar.style.width = `max(4px, ${(entry.width * 100).toFixed(2)}%)`;
    bar.title = `${entry.at}: ${entry.text}`;
    track.append(bar);
  }
  const axis = document.createElement('div');
  axis.className = 'axis muted';
  axis.setAttribute('aria-hidden', 'true');
  axis.append(Object.assign(document.createElement('span'), { textContent: '5 min ago' }),
    Object.assign(document.createElement('span'), { textContent: 'now' }));
  const list = document.createElement('ol');
  list.className = 'rebalances';
  list.setAttribute('aria-label', `Rebalances of ${timeline.name}, newest first`);
  for (const entry of timeline.entries.slice(0, 10)) {
    const item = document.createElement('li');
    item.className = 'rebalance';
    item.dataset.group = timeline.name;
    item.dataset.seq = entry.seq;
    item.dataset.pause = entry.pauseMs;
    const time = document.createElement('time');
    time.textContent = entry.at;
    item.append(time, ` ${entry.text}`);
    list.append(item);
  }
  if (!timeline.entries.length) {
    list.append(Object.assign(document.createElement('li'), { className: 'muted', textContent: 'no rebalance recorded yet' }));
  }
  section.append(title, track, axis, list);
  return section;
}

// Redraw on a width change: the diagram has a wide and a narrow layout.
window.matchMedia('(max-width: 700px)').addEventListener('change', () => {
  cluster.drawn.diagram = null;
  if (cluster.model) drawDiagram($('#diagram'), cluster.model, {}, narrowScreen());
});
