// What the page computes from GET /cluster: run with `node --test tests/page-model/`.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const model = require('../../static/cluster-model.js');
const { member, group, answer } = require('./fixtures.js');

test('each group has a colour and, never colour alone, a glyph and a line pattern', () => {
  const first = model.groupStyle('first-group');
  const second = model.groupStyle('second-group');
  assert.equal(first.colour, '#1d4ed8', 'first-group is blue, as in the workshop');
  assert.equal(second.colour, '#c2410c', 'second-group is orange');
  assert.notEqual(first.glyph, second.glyph);
  assert.notEqual(first.dash, second.dash);
  assert.deepEqual(model.groupStyle('error-group'), model.groupStyle('error-group'), 'stable across calls');
  assert.ok(model.groupStyle('error-group').pattern);
});

test('members are named as the panels name them, else by client id and host', () => {
  const ours = member('m1', [0], { kafka_lab: 'http://127.0.0.1:8001' });
  assert.equal(model.memberLabel(ours), 'Consumer :8001');
  assert.equal(model.memberLabel(ours, { 'http://127.0.0.1:8001': 'Consumer X' }), 'Consumer X');
  assert.equal(model.memberLabel(member('m2', [], { client_id: 'java-member' })), 'java-member @ 127.0.0.1');
  assert.equal(model.memberLabel(member('kafka-lab-92b8d9cd-8e15', [], { client_id: '', host: '' })), 'member …d-8e15');
});

test('the split: an arrow per owned partition, with the group lag', () => {
  const view = model.clusterModel(answer([group('first-group', [member('a', [0]), member('b', [1])])]));
  assert.deepEqual(view.arrows.map((a) => [a.group, a.partition, a.member, a.lag]),
    [['first-group', 0, 'a', 2], ['first-group', 1, 'b', 2]]);
  assert.deepEqual(view.groups[0].unassigned, []);
  assert.ok(view.groups[0].members.every((m) => m.idle === null));
  assert.deepEqual(view.partitions.map((p) => [p.partition, p.leader, p.end, p.offline]), [[0, 2, 12, false], [1, 3, 12, false]]);
});

test('an idle member says why: more members than partitions', () => {
  const view = model.clusterModel(answer([group('first-group', [member('a', [0]), member('b', [1]), member('c', [])])]));
  const idle = view.groups[0].members.find((m) => m.id === 'c').idle;
  assert.match(idle, /first-topic has 2 partitions for 3 members of first-group/);
});

test('a topic of one partition points at the workshop troubleshooting', () => {
  const one = answer([group('first-group', [member('a', [0]), member('b', [])])]);
  one.partitions = one.partitions.slice(0, 1);
  const idle = model.clusterModel(one).groups[0].members[1].idle;
  assert.match(idle, /1 partition for 2 members/);
  assert.match(idle, /give first-topic 2 partitions/);
});

test('unassigned partitions say why: rebalancing, nobody running, no leader', () => {
  const rebalancing = model.clusterModel(answer([group('first-group', [member('a', [])], { state: 'PreparingRebalance' })]));
  assert.match(rebalancing.groups[0].unassigned[0].reason, /rebalancing/);
  assert.match(rebalancing.groups[0].members[0].idle, /rebalancing/);
  const empty = model.clusterModel(answer([group('first-group', [], { state: 'Empty' })]));
  assert.match(empty.groups[0].unassigned[1].reason, /no member of first-group is running/);
  const offline = answer([group('first-group', [member('a', [0])], { state: 'Stable' })]);
  offline.partitions[1].leader = null;
  assert.match(model.clusterModel(offline).groups[0].unassigned[0].reason, /no leader/);
});

test('a member whose partitions the broker does not report is not called idle for a wrong reason', () => {
  const unknown = member('a', [], { assignment_from: null });
  const view = model.clusterModel(answer([group('first-group', [unknown])]));
  assert.match(view.groups[0].members[0].idle, /does not say/);
  assert.match(view.groups[0].unassigned[0].reason, /owner unknown/);
});

test('a stopped broker is down and its partitions leaders move', () => {
  const before = model.clusterModel(answer([]));
  const after = answer([]);
  after.brokers[0].up = false;
  after.partitions[0].leader = 3;
  after.partitions[0].isr = [3];
  const view = model.clusterModel(after);
  assert.deepEqual(view.brokers.map((b) => [b.id, b.up]), [[2, false], [3, true]]);
  assert.deepEqual(model.leaderMoves(before.partitions, view.partitions), [{ partition: 0, from: 2, to: 3 }]);
  assert.deepEqual(model.leaderMoves(view.partitions, view.partitions), []);
});

test('the diagram has a text alternative', () => {
  const text = model.describeModel(model.clusterModel(answer([group('first-group', [member('a', [0, 1], { kafka_lab: 'http://h:8000' })])])));
  assert.match(text, /2 brokers of 2 up/);
  assert.match(text, /P0: leader 2, end offset 12/);
  assert.match(text, /first-group \(Stable, 1 member\): Consumer :8000 reads P0, P1/);
  assert.match(model.describeModel(model.clusterModel(answer([], { error: 'no broker answered' }))), /cannot be read/);
});
