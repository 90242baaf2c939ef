// The section-3 lab's steps, checked from successive views: run with `node --test tests/page-model/`.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { clusterModel } = require('../../static/cluster-model.js');
const guide = require('../../static/guide-model.js');
const { member, group, answer } = require('./fixtures.js');

const labelOf = (id) => ({ a: 'Consumer :8000', b: 'Consumer :8001' }[id] || id);

function withCommitted(g, committed) {
  g.partitions.forEach((p, i) => { p.committed = committed[i]; });
  return g;
}

// Feeds the guide one view; returns the steps' done flags.
function step(progress, groups, history = []) {
  const view = answer(groups, { history });
  return guide.guideSteps(clusterModel(view), history, progress, labelOf);
}

test('the four steps turn checked in order, each from what happened after the one before', () => {
  const progress = guide.newProgress();
  let steps = step(progress, [withCommitted(group('first-group', [member('a', [0, 1])]), [10, 10])]);
  assert.deepEqual(steps.map((s) => s.done), [false, false, false, false]);
  assert.match(steps[0].detail, /1 member in first-group/);

  steps = step(progress, [withCommitted(group('first-group', [member('a', [0]), member('b', [1])]), [10, 10])]);
  assert.deepEqual(steps.map((s) => s.done), [true, false, false, false]);

  steps = step(progress, [withCommitted(group('first-group', [member('a', [0]), member('b', [1])]), [12, 10])]);
  assert.equal(steps[1].done, false, 'only one member read so far');
  steps = step(progress, [withCommitted(group('first-group', [member('a', [0]), member('b', [1])]), [12, 11])]);
  assert.equal(steps[1].done, true);
  assert.match(steps[1].detail, /P0 → a \(\+2\), P1 → b \(\+1\)|P0 → .* \(\+2\)/);

  const handOver = {
    seq: 1, group: 'first-group', left: ['b'], joined: [],
    partitions: [{ partition: 1, from: 'b', to: 'a', unread_ms: 2500, unread_at_least_ms: 1000 }],
  };
  steps = step(progress, [withCommitted(group('first-group', [member('a', [0, 1])]), [12, 11])], [handOver]);
  assert.equal(steps[2].done, true);
  assert.match(steps[2].detail, /P1 handed over from Consumer :8001 to Consumer :8000, unread at most 2.5 s/);
  assert.equal(steps[0].done, true, 'a done step stays done when a consumer stops');

  const first = () => withCommitted(group('first-group', [member('a', [0, 1])]), [12, 11]);
  steps = step(progress, [first(), withCommitted(group('second-group', [member('b', [0, 1])]), [12, 11])], [handOver]);
  assert.equal(steps[3].done, false, 'no event sent since second-group formed');
  steps = step(progress, [withCommitted(group('first-group', [member('a', [0, 1])]), [13, 11]),
    withCommitted(group('second-group', [member('b', [0, 1])]), [13, 11])], [handOver]);
  assert.equal(steps[3].done, true);
  assert.match(steps[3].detail, /second-group and first-group both read P0/);
});

test('a hand-over seen before the split does not count', () => {
  const progress = guide.newProgress();
  const early = { seq: 1, group: 'first-group', left: ['x'], joined: [], partitions: [{ partition: 1, from: 'x', to: 'a' }] };
  step(progress, [withCommitted(group('first-group', [member('a', [0]), member('b', [1])]), [10, 10])], [early]);
  const steps = step(progress, [withCommitted(group('first-group', [member('a', [0]), member('b', [1])]), [11, 11])], [early]);
  assert.equal(steps[1].done, true);
  assert.equal(steps[2].done, false);
});

test('troubleshooting: brokers down, one partition, replication factor 1', () => {
  const fine = guide.troubleshooting(clusterModel(answer([])));
  assert.deepEqual(fine.map((c) => c.state), ['ok', 'ok', 'ok']);
  const bad = answer([]);
  bad.brokers[1].up = false;
  bad.partitions = [{ ...bad.partitions[0], replicas: [2] }];
  const checks = guide.troubleshooting(clusterModel(bad));
  assert.deepEqual(checks.map((c) => [c.id, c.state]), [['brokers', 'bad'], ['partitions', 'bad'], ['replication', 'warn']]);
  assert.match(checks[0].text, /broker 3 down/);
  assert.match(checks[1].text, /edit it to 2 in kafka-ui/);
  assert.match(guide.troubleshooting(clusterModel(answer([], { topic_exists: false, partitions: [] })))[1].text, /does not exist/);
});

test('the commands are the ones for this setup, on the next free port', () => {
  assert.equal(guide.consumerCommand({ topic: 'first-topic', bootstrap: 'localhost:9093,localhost:9094', group: 'first-group', port: 8001 }),
    'KAFKA_TOPIC="first-topic" \\\nKAFKA_BOOTSTRAP_SERVERS="localhost:9093,localhost:9094" \\\n' +
    'CONSUMER_GROUP="first-group" \\\nPORT=8001 \\\ncargo run --release --bin consumer');
  assert.equal(guide.nextPort([{ port: '8000', online: true }, { port: '8001', online: false }]), '8001');
  assert.equal(guide.nextPort([{ port: '8000', online: true }, { port: '8001', online: true }]), 8002);
  assert.equal(guide.nextPort([]), 8001);
});
