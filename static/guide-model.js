// kafka-lab's lab page: the section-3 lab's steps, each checked live from what the page observes (the
// producer's /cluster view and its rebalance history). Pure functions (tested with `node --test
// tests/page-model/`); guide.js draws them.
//
// `progress` remembers what was reached and when, so a step stays checked once done (stopping a consumer in
// step 3 must not uncheck step 1), and each step only counts what happened after the step before it.

'use strict';

const guideLib = typeof module === 'object' ? require('./cluster-model.js') : { plural };

const FIRST = 'first-group';

function newProgress() {
  return { done: {}, committedAtSplit: null, seqAtSplit: null, committedAtFanOut: null };
}

// A group's committed offset per partition ({ partition: offset }; null where it never committed).
function committedOf(group) {
  const offsets = {};
  for (const [partition, p] of Object.entries(group.lag)) offsets[partition] = p.committed;
  return offsets;
}

// The partitions whose committed offset moved past `since` (a partition without one then counts from its
// first commit).
function advanced(group, since) {
  const moved = [];
  for (const [partition, p] of Object.entries(group.lag)) {
    const before = since[partition];
    if (p.committed !== null && p.committed !== undefined && before !== null && before !== undefined &&
      p.committed > before) moved.push(Number(partition));
  }
  return moved;
}

function fillBaseline(baseline, group) {
  for (const [partition, p] of Object.entries(group.lag)) {
    if (baseline[partition] === null || baseline[partition] === undefined) baseline[partition] = p.committed;
  }
}

// Step 1: two members in first-group, one partition each.
function checkSecondConsumer(first) {
  if (!first) return { ok: false, detail: `no ${FIRST} yet: start a consumer in it` };
  const owning = first.members.filter((m) => m.partitions.length === 1);
  const detail = `${guideLib.plural(first.members.length, 'member')} in ${FIRST}` +
    (first.members.length ? `: ${first.members.map((m) => `${m.label} reads ${m.partitions.map((p) => `P${p}`).join(', ') || 'nothing'}`).join('; ')}` : '');
  return { ok: first.settled && first.members.length >= 2 && owning.length >= 2, detail };
}

// Step 2: events went to both members (committed offsets moved on partitions with different owners).
function checkSplit(first, progress) {
  if (!first) return { ok: false, detail: `no ${FIRST}` };
  fillBaseline(progress.committedAtSplit, first);
  const moved = advanced(first, progress.committedAtSplit);
  const readers = new Set(moved.map((p) => first.lag[p].owner).filter(Boolean));
  const labels = moved.map((p) => {
    const owner = first.members.find((m) => m.id === first.lag[p].owner);
    return `P${p} → ${owner ? owner.label : 'a member'} (+${first.lag[p].committed - progress.committedAtSplit[p]})`;
  });
  return {
    ok: readers.size >= 2,
    detail: moved.length ? `read so far: ${labels.join(', ')}` : 'click Send Event a few times',
  };
}

// Step 3: a member of first-group left and its partition was handed to one that stayed.
function checkHandOver(history, progress, labelOf) {
  const handOver = (history || []).find((e) => e.group === FIRST && e.seq > progress.seqAtSplit &&
    e.left.length && e.partitions.some((p) => e.left.includes(p.from) && p.to));
  if (!handOver) return { ok: false, detail: 'stop one of the two consumers with Ctrl+C' };
  const moved = handOver.partitions.find((p) => handOver.left.includes(p.from) && p.to);
  const pause = moved.unread_ms === null ? '' : `, unread at most ${(moved.unread_ms / 1000).toFixed(1)} s`;
  return { ok: true, detail: `P${moved.partition} handed over from ${labelOf(moved.from)} to ${labelOf(moved.to)}${pause}` };
}

// Step 4: another group reads every partition next to first-group, and events reach both.
function checkFanOut(model, progress) {
  const first = model.groups.find((g) => g.name === FIRST);
  const all = model.partitions.map((p) => p.partition);
  const second = model.groups.find((g) => g.name !== FIRST && g.members.length &&
    all.every((p) => g.members.some((m) => m.partitions.includes(p))));
  if (!second || !first || !first.members.length) {
    return { ok: false, detail: `start the consumer again in second-group, next to one in ${FIRST}` };
  }
  progress.committedAtFanOut ??= {};
  progress.committedAtFanOut[second.name] ??= {};
  progress.committedAtFanOut[FIRST] ??= {};
  fillBaseline(progress.committedAtFanOut[second.name], second);
  fillBaseline(progress.committedAtFanOut[FIRST], first);
  const bothRead = advanced(second, progress.committedAtFanOut[second.name])
    .filter((p) => advanced(first, progress.committedAtFanOut[FIRST]).includes(p));
  return {
    ok: bothRead.length > 0,
    detail: bothRead.length
      ? `${second.name} and ${FIRST} both read P${bothRead.join(', P')}: every group gets every event`
      : `${second.name} reads every partition; click Send Event`,
  };
}

// Advances the guide with one more view; returns [{ id, ok, done, detail }] for the four steps.
function guideSteps(model, history, progress, labelOf) {
  const first = model.groups.find((g) => g.name === FIRST);
  const steps = [];
  const step = (id, check, enabled) => {
    const result = enabled ? check() : { ok: false, detail: 'after the step before' };
    if (result.ok && !progress.done[id]) progress.done[id] = { detail: result.detail };
    steps.push({ id, ok: result.ok, done: Boolean(progress.done[id]), detail: progress.done[id] ? progress.done[id].detail : result.detail });
    return Boolean(progress.done[id]);
  };
  const one = step('second-consumer', () => checkSecondConsumer(first), true);
  if (one && progress.committedAtSplit === null) {
    progress.committedAtSplit = first ? committedOf(first) : {};
  }
  const two = step('split', () => checkSplit(first, progress), one);
  if (two && progress.seqAtSplit === null) {
    progress.seqAtSplit = Math.max(0, ...(history || []).map((e) => e.seq));
  }
  const three = step('hand-over', () => checkHandOver(history, progress, labelOf), two);
  step('fan-out', () => checkFanOut(model, progress), three);
  return steps;
}

// The troubleshooting checks of the seed, always live: [{ id, state: 'ok' | 'warn' | 'bad', text }].
function troubleshooting(model) {
  if (model.error) return [{ id: 'brokers', state: 'bad', text: `no broker answers: ${model.error}` }];
  const up = model.brokers.filter((b) => b.up);
  const down = model.brokers.filter((b) => !b.up);
  const checks = [{
    id: 'brokers',
    state: down.length ? 'bad' : 'ok',
    text: down.length
      ? `${down.map((b) => b.label).join(', ')} down: ${guideLib.plural(up.length, 'broker')} up (docker ps -f "name=kafka")`
      : `${guideLib.plural(up.length, 'broker')} up`,
  }];
  if (!model.exists) {
    checks.push({ id: 'partitions', state: 'bad', text: `${model.topic} does not exist: create it with 2 partitions` });
    return checks;
  }
  const count = model.partitions.length;
  checks.push({
    id: 'partitions',
    state: count >= 2 ? 'ok' : 'bad',
    text: count >= 2
      ? `${model.topic} has ${count} partitions: up to ${count} members of a group share it`
      : `${model.topic} has ${guideLib.plural(count, 'partition')}: only one member of a group can read it; edit it to 2 in kafka-ui`,
  });
  const replication = Math.min(...model.partitions.map((p) => p.replicas.length));
  checks.push({
    id: 'replication',
    state: replication >= 2 ? 'ok' : 'warn',
    text: replication >= 2
      ? `replication factor ${replication}: a partition survives a stopped broker`
      : `replication factor ${replication}: a stopped broker takes its partitions offline (the workshop uses 2)`,
  });
  return checks;
}

// The command that starts a consumer for this setup.
function consumerCommand({ topic, bootstrap, group, port }) {
  return [
    `KAFKA_TOPIC="${topic}" \\`,
    `KAFKA_BOOTSTRAP_SERVERS="${bootstrap}" \\`,
    `CONSUMER_GROUP="${group}" \\`,
    `PORT=${port} \\`,
    'cargo run --release --bin consumer',
  ].join('\n');
}

// The port for the next consumer: the first the page shows that is offline, else one past the highest.
function nextPort(consumers) {
  const offline = consumers.find((c) => c.online === false && c.port);
  if (offline) return offline.port;
  const ports = consumers.map((c) => Number(c.port)).filter(Number.isFinite);
  return ports.length ? Math.max(...ports) + 1 : 8001;
}

if (typeof module === 'object') {
  module.exports = { newProgress, guideSteps, troubleshooting, consumerCommand, nextPort, FIRST };
}
