#!/usr/bin/env node
/*
 * Drives the official Node.js Nacos client (npm "nacos", HTTP v1 only) through one scenario against a
 * Nacos-compatible server, for tests/conformance/test_node_client.py.
 *
 * Usage: node driver.js '<json command>'   (or the JSON command on stdin)
 *
 * Every step prints one JSON line on stdout ({"event": ...}); client logs go to stderr. The driver exits 0
 * after printing {"event": "done"}, or 1 after {"event": "error", "message": ...}. Every wait has a timeout
 * and the whole run is bounded by command.deadline_ms.
 *
 * Namespace handling: the naming client defaults to namespaceId=public (nacos-naming's own default); we
 * pass command.namespace through unchanged ("public" by default). The config client sends tenant=<namespace>
 * when one is configured and tenant='' otherwise; command.namespace=null leaves it unset, which is what
 * most Node apps do and what Nacos treats as the public namespace.
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const util = require('util');
const { NacosNamingClient, NacosConfigClient } = require('nacos');

function emit(event, fields) {
  process.stdout.write(JSON.stringify(Object.assign({ event, t: Date.now() }, fields || {})) + '\n');
}

function fail(message) {
  emit('error', { message: String(message && message.stack ? message.stack : message) });
  process.exitCode = 1;
  // Leave stdout time to drain, but never hang on a client's timers.
  setTimeout(() => process.exit(1), 50);
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

/** Poll `probe` (async, returns a truthy value when satisfied) every `every` ms until `timeoutMs`. */
async function waitFor(what, timeoutMs, probe, every = 200) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() >= end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** Resolves with the first value `register(push)` pushes that satisfies `accept`, or rejects on timeout. */
function nextPush(what, timeoutMs, state, accept) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const hit = state.seen.find(accept);
      if (hit !== undefined) {
        clearTimeout(timer);
        state.waiters.delete(check);
        resolve(hit);
      }
    };
    const timer = setTimeout(() => {
      state.waiters.delete(check);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; saw ${JSON.stringify(state.seen)}`));
    }, timeoutMs);
    state.waiters.add(check);
    check();
  });
}

function pushState() {
  const state = { seen: [], waiters: new Set() };
  state.push = value => {
    state.seen.push(value);
    for (const waiter of Array.from(state.waiters)) waiter();
  };
  return state;
}

function makeLogger(tag) {
  const write = level => (...args) => {
    const text = util.format(...args.map(a => (a instanceof Error ? a.stack : a)));
    process.stderr.write(`[${tag}] ${level} ${text}\n`);
  };
  return { debug: () => {}, info: write('INFO'), warn: write('WARN'), error: write('ERROR') };
}

const key = host => `${host.ip}:${host.port}`;
const brief = hosts => (hosts || []).map(h => ({
  ip: h.ip, port: h.port, healthy: h.healthy, enabled: h.enabled, metadata: h.metadata,
}));

// ---------------------------------------------------------------------------------------------- naming

function namingClient(cmd) {
  const logger = makeLogger('naming');
  const client = new NacosNamingClient({ logger, serverList: cmd.server, namespace: cmd.namespace || 'public' });
  client.on('error', err => logger.error(err));
  // Observe (not alter) the beats the client sends: report each server answer as a JSON line.
  const proxy = client._serverProxy;
  const reqAPI = proxy._reqAPI.bind(proxy);
  proxy._reqAPI = async (api, params, method) => {
    const answer = await reqAPI(api, params, method);
    if (api.endsWith('/instance/beat')) {
      let body = answer;
      try { body = JSON.parse(answer); } catch (_) { /* keep text */ }
      emit('beat', { serviceName: params.serviceName, namespaceId: params.namespaceId, answer: body });
    }
    return answer;
  };
  return client;
}

async function scenarioNaming(cmd) {
  const service = cmd.service;
  const group = cmd.group || 'DEFAULT_GROUP';
  const wait = cmd.wait_ms || 10000;
  const client = namingClient(cmd);
  await client.ready();
  emit('ready', { namespace: client._serverProxy.namespace });

  const mine = cmd.register; // {ip, port, metadata} or undefined
  if (mine) {
    await client.registerInstance(service, { ip: mine.ip, port: mine.port, metadata: mine.metadata || {} }, group);
    emit('registered', { instance: mine });
  }

  const expectListed = (cmd.expect_listed || []).concat(mine ? [`${mine.ip}:${mine.port}`] : []);
  if (expectListed.length) {
    const hosts = await waitFor(`getAllInstances to list ${expectListed}`, wait, async () => {
      const all = await client.getAllInstances(service, group, '', false);
      const keys = new Set(all.map(key));
      return expectListed.every(k => keys.has(k)) ? all : null;
    });
    emit('listed', { hosts: brief(hosts) });
  }

  if (cmd.subscribe) {
    const pushes = pushState();
    client.subscribe({ serviceName: service, groupName: group }, hosts => {
      emit('hosts', { hosts: brief(hosts) });
      pushes.push(hosts.map(key).sort());
    });
    emit('subscribed', {});
    // Each expect_pushed entry is an exact host set ("ip:port" strings) the listener must be called with.
    for (const wanted of cmd.expect_pushed || []) {
      const want = JSON.stringify(wanted.slice().sort());
      const hit = await nextPush(`a pushed host list equal to ${want}`, cmd.push_wait_ms || wait, pushes,
        keys => JSON.stringify(keys) === want);
      emit('pushed', { hosts: hit, wanted });
    }
  }

  if (cmd.hold_ms) {
    emit('holding', { ms: cmd.hold_ms });
    await sleep(cmd.hold_ms);
    emit('held', {});
  }

  if (mine) {
    await client.deregisterInstance(service, { ip: mine.ip, port: mine.port }, group);
    emit('deregistered', { instance: mine });
    // nacos-naming never replaces a cached service with an empty host list (ServiceInfo.isValid is false
    // for hosts=[]), so a client that has seen the instance keeps returning it. Confirm the removal with a
    // fresh client, whose first answer comes straight from the server.
    const checker = namingClient(cmd);
    await checker.ready();
    try {
      await waitFor(`${mine.ip}:${mine.port} to disappear`, wait, async () => {
        const all = await checker.getAllInstances(service, group, '', false);
        return all.some(h => key(h) === `${mine.ip}:${mine.port}`) ? null : true;
      });
    } finally {
      await checker.close();
    }
    emit('gone', { instance: mine });
  }
  await client.close();
}

// ---------------------------------------------------------------------------------------------- config

async function scenarioConfig(cmd) {
  const { data_id: dataId, content } = cmd;
  const group = cmd.group || 'DEFAULT_GROUP';
  const wait = cmd.wait_ms || 10000;
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nacos-node-conformance-'));
  const options = { serverAddr: cmd.server, cacheDir, requestTimeout: 5000 };
  if (cmd.namespace !== null && cmd.namespace !== undefined) options.namespace = cmd.namespace;
  const client = new NacosConfigClient(options);
  const errors = [];
  client.on('error', err => { errors.push(String(err)); process.stderr.write(`[config] ERROR ${err.stack}\n`); });
  try {
    await client.ready();
    emit('ready', { namespace: options.namespace === undefined ? null : options.namespace });

    const published = await client.publishSingle(dataId, group, content);
    emit('published', { result: published });

    const got = await client.getConfig(dataId, group);
    emit('got', { content: got });
    if (got !== content) throw new Error(`getConfig returned ${JSON.stringify(got)}, expected ${JSON.stringify(content)}`);

    if (cmd.expect_change !== undefined) {
      const pushes = pushState();
      const listener = value => { emit('config', { content: value }); pushes.push(value); };
      client.subscribe({ dataId, group }, listener);
      await nextPush('the subscriber to report the current content', wait, pushes, v => v === content);
      emit('subscribed', {});
      await nextPush(`the subscriber to receive ${JSON.stringify(cmd.expect_change)}`, cmd.change_wait_ms || wait,
        pushes, v => v === cmd.expect_change);
      emit('changed', { content: cmd.expect_change });
      client.unSubscribe({ dataId, group }, listener);
    }

    if (cmd.remove !== false) {
      const removed = await client.remove(dataId, group);
      emit('removed', { result: removed });
      const after = await client.getConfig(dataId, group);
      emit('after_remove', { content: after });
      if (after !== null) throw new Error(`getConfig after remove returned ${JSON.stringify(after)}, expected null (HTTP 404)`);
    }
    if (errors.length) throw new Error(`config client reported errors: ${errors.join('; ')}`);
  } finally {
    client.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------- main

const SCENARIOS = { naming: scenarioNaming, config: scenarioConfig };

function readCommand() {
  const raw = process.argv[2] !== undefined ? process.argv[2] : fs.readFileSync(0, 'utf8');
  const cmd = JSON.parse(raw);
  if (!cmd || typeof cmd !== 'object') throw new Error('the command must be a JSON object');
  if (!SCENARIOS[cmd.scenario]) throw new Error(`unknown scenario ${JSON.stringify(cmd.scenario)}; known: ${Object.keys(SCENARIOS)}`);
  if (!cmd.server) throw new Error('command.server ("host:port" of the Nacos HTTP API) is required');
  return cmd;
}

async function main() {
  const cmd = readCommand();
  const deadline = setTimeout(() => fail(`scenario ${cmd.scenario} exceeded deadline_ms=${cmd.deadline_ms || 60000}`),
    cmd.deadline_ms || 60000);
  emit('start', { scenario: cmd.scenario, node: process.version, nacos: require('nacos/package.json').version });
  await SCENARIOS[cmd.scenario](cmd);
  clearTimeout(deadline);
  emit('done', {});
  // The clients keep sleeping timers (beat loop, host polling); don't wait for them.
  setTimeout(() => process.exit(process.exitCode || 0), 50);
}

process.on('unhandledRejection', err => fail(err));
process.on('uncaughtException', err => fail(err));
main().catch(fail);
