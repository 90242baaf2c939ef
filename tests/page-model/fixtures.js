// Answers of GET /cluster, shaped as the producer sends them (README, "GET /cluster"), for the page's tests.
'use strict';

function member(id, partitions, extra = {}) {
  return {
    member_id: id, client_id: 'kafka-lab', host: '/127.0.0.1', instance_id: null, member_epoch: null,
    subscribed: ['first-topic'], partitions, assignment_from: 'coordinator', target_partitions: null,
    other_partitions: 0, kafka_lab: null, generation: null, problem: null, ...extra,
  };
}

function group(name, members, extra = {}) {
  const owner = (p) => (members.find((m) => m.partitions.includes(p)) || {}).member_id || null;
  return {
    group: name, protocol: 'classic', protocol_type: 'consumer', state: 'Stable', assignor: 'roundrobin',
    generation: 2, assignment_epoch: null, coordinator: 2, problem: null, members,
    partitions: [0, 1].map((p) => ({ partition: p, committed: 10, lag: 2, owner: owner(p) })),
    ...extra,
  };
}

function answer(groups, extra = {}) {
  return {
    topic: 'first-topic', observed_at: '10:00:00:000', observed_at_ms: 1000, error: null, topic_exists: true,
    brokers: [
      { id: 2, host: '127.0.0.1', port: 9093, rack: null, up: true, problem: null },
      { id: 3, host: '127.0.0.1', port: 9094, rack: null, up: true, problem: null },
    ],
    partitions: [0, 1].map((p) => ({
      partition: p, leader: 2 + p, replicas: [2, 3], isr: [2, 3], offline_replicas: [], end_offset: 12, problem: null,
    })),
    groups, groups_truncated: false, age_ms: 10, watching: true, bootstrap_servers: 'localhost:9093,localhost:9094',
    history: [],
    ...extra,
  };
}

module.exports = { member, group, answer };
