// kafka-lab's lab page: what the page computes from the producer's GET /cluster, without touching the page.
// Pure functions, so that `node --test tests/page-model/` checks them; cluster-diagram.js, cluster-view.js and
// guide.js draw what these return. Loaded before the other scripts (helpers.js takes its group colours here).
//
// The answer's shape is in the README ("GET /cluster"): brokers, the topic's partitions, every group reading it
// with members and per-partition committed offset, lag and owner, and the rebalance history.

'use strict';

// ---------------------------------------------------------------------------------------------------------
// One look per group: a colour, and (never colour alone) a glyph and a line pattern. The workshop says
// first-group is blue and second-group orange; any other name gets a hue and a glyph from its letters, the
// same in every tab.

const GLYPHS = ['●', '■', '▲', '◆', '★', '⬟'];
const DASHES = ['', '9 5', '2 4', '12 4 2 4', '6 3'];

function nameHash(name) {
  let hash = 0;
  for (const ch of String(name)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash;
}

function groupStyle(name) {
  const pinned = {
    'first-group': { colour: '#1d4ed8', glyph: GLYPHS[0], dash: DASHES[0], pattern: 'solid line' },
    'second-group': { colour: '#c2410c', glyph: GLYPHS[1], dash: DASHES[1], pattern: 'dashed line' },
  };
  if (pinned[name]) return pinned[name];
  const hash = nameHash(name);
  const shape = 2 + (hash % 4);
  const dash = 2 + ((hash >>> 4) % 3);
  return {
    colour: `hsl(${hash % 360} 70% 34%)`,
    glyph: GLYPHS[shape],
    dash: DASHES[dash],
    pattern: ['dotted line', 'dash-dot line', 'short-dashed line'][dash - 2],
  };
}

// ---------------------------------------------------------------------------------------------------------
// Names people recognise

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const shortId = (id) => (String(id).length > 12 ? `…${String(id).slice(-6)}` : String(id));
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

// "http://127.0.0.1:8001" → "Consumer :8001", as the consumer panels name it (names: url → panel name).
function consumerLabel(url, names = {}) {
  if (names[url]) return names[url];
  const match = /:(\d+)(\/.*)?$/.exec(url);
  return match ? `Consumer :${match[1]}` : `Consumer ${url}`;
}

// A member: the kafka-lab consumer it is, else its client id and host, else its member id.
function memberLabel(member, names = {}) {
  if (member.kafka_lab) return consumerLabel(member.kafka_lab, names);
  const host = String(member.host || '').replace(/^\//, '');
  if (member.client_id) return host ? `${member.client_id} @ ${host}` : member.client_id;
  return `member ${shortId(member.member_id)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Why something is idle (the seed's troubleshooting, in words)

const isSettled = (group) => ['stable', 'empty'].includes(String(group.state).toLowerCase());

function idleReason(group, member, topic, partitionCount) {
  if (member.partitions.length) return null;
  if (!isSettled(group)) return `${group.group} is rebalancing: members are being given partitions again`;
  if (member.subscribed && !member.subscribed.includes(topic)) return `subscribed to ${member.subscribed.join(', ')}, not ${topic}`;
  if (member.assignment_from === null || member.assignment_from === undefined) {
    return 'the broker does not say which partitions this member owns';
  }
  const members = group.members.length;
  if (partitionCount < members) {
    return `${topic} has ${plural(partitionCount, 'partition')} for ${members} members of ${group.group}: ` +
      'each partition is read by one member, so the others wait' +
      (partitionCount === 1 ? ` (give ${topic} 2 partitions, e.g. in kafka-ui)` : '');
  }
  return 'its group gave it nothing this time (see the assignor)';
}

function unassignedReason(group, partition) {
  if (partition.leader === null || partition.leader === undefined) {
    return 'no leader: the brokers holding it are down, nobody can read it';
  }
  if (!group.members.length) return `nobody reads it: no member of ${group.group} is running`;
  if (!isSettled(group)) return `${group.group} is rebalancing: nobody reads until every member has rejoined`;
  if (group.members.some((m) => m.assignment_from === null || m.assignment_from === undefined)) {
    return 'owner unknown: the broker does not report assignments';
  }
  return `no member of ${group.group} was given it`;
}

// ---------------------------------------------------------------------------------------------------------
// The diagram's content: who reads what

function clusterModel(answer, names = {}) {
  const topic = answer.topic;
  const brokers = (answer.brokers || []).map((b) => ({
    id: b.id,
    label: `broker ${b.id}`,
    up: b.up,
    problem: b.problem,
    address: b.host ? `${b.host}:${b.port}` : null,
  }));
  const down = new Set(brokers.filter((b) => !b.up).map((b) => b.id));
  const partitions = (answer.partitions || []).map((p) => ({
    partition: p.partition,
    leader: p.leader,
    replicas: p.replicas,
    isr: p.isr,
    end: p.end_offset,
    problem: p.problem,
    offline: p.leader === null || p.leader === undefined || down.has(p.leader),
  }));
  const groups = (answer.groups || []).map((g) => groupModel(g, topic, partitions, names));
  const arrows = groups.flatMap((g) => g.members.flatMap((m) => m.partitions.map((partition) => ({
    group: g.name,
    partition,
    member: m.id,
    lag: g.lag[partition] ? g.lag[partition].lag : null,
  }))));
  return { topic, error: answer.error, exists: answer.topic_exists, brokers, partitions, groups, arrows };
}

function groupModel(g, topic, partitions, names) {
  const members = g.members.map((m) => ({
    id: m.member_id,
    label: memberLabel(m, names),
    kafkaLab: m.kafka_lab || null,
    partitions: [...m.partitions].sort((a, b) => a - b),
    idle: idleReason(g, m, topic, partitions.length),
    epoch: m.member_epoch,
    generation: m.generation,
    from: m.assignment_from,
  }));
  const owned = new Set(members.flatMap((m) => m.partitions));
  const lag = {};
  for (const p of g.partitions || []) lag[p.partition] = { committed: p.committed, lag: p.lag, owner: p.owner };
  return {
    name: g.group,
    style: groupStyle(g.group),
    protocol: g.protocol,
    state: g.state,
    settled: isSettled(g),
    assignor: g.assignor,
    generation: g.generation,
    problem: g.problem,
    members,
    lag,
    unassigned: partitions
      .filter((p) => !owned.has(p.partition))
      .map((p) => ({ partition: p.partition, reason: unassignedReason(g, p) })),
  };
}

// Partitions whose leader changed from one view to the next: [{ partition, from, to }].
function leaderMoves(before, after) {
  const old = new Map((before || []).map((p) => [p.partition, p.leader]));
  return (after || [])
    .filter((p) => old.has(p.partition) && old.get(p.partition) !== p.leader)
    .map((p) => ({ partition: p.partition, from: old.get(p.partition), to: p.leader }));
}

// What a screen reader hears for the diagram.
function describeModel(model) {
  if (model.error) return `The cluster cannot be read: ${model.error}`;
  if (!model.exists) return `Topic ${model.topic} does not exist.`;
  const up = model.brokers.filter((b) => b.up).length;
  const lines = [`${plural(up, 'broker')} of ${model.brokers.length} up. ` +
    `${model.topic} has ${plural(model.partitions.length, 'partition')}.`];
  for (const p of model.partitions) {
    lines.push(`P${p.partition}: leader ${p.leader ?? 'none'}, end offset ${p.end ?? 'unknown'}.`);
  }
  for (const g of model.groups) {
    const reads = g.members.map((m) => `${m.label} reads ${m.partitions.length ? m.partitions.map((p) => `P${p}`).join(', ') : 'nothing'}`);
    lines.push(`${g.name} (${g.state}, ${plural(g.members.length, 'member')}): ${reads.join('; ') || 'no members'}.`);
  }
  return lines.join(' ');
}

if (typeof module === 'object') {
  module.exports = {
    groupStyle, consumerLabel, memberLabel, idleReason, unassignedReason, clusterModel, leaderMoves,
    describeModel, seconds, shortId, plural, isSettled,
  };
}
