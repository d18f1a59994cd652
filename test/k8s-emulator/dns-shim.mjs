// Preload for pod processes (node --import <this file>): resolves cluster names
// (<pod>.<svc>, <svc>.<ns>.svc.cluster.local, ...) from the emulator's DNS file given in
// K8S_EMULATOR_DNS_FILE, searching K8S_EMULATOR_NAMESPACE first like a pod's resolv.conf.
// Other names go to the real resolver. Patches dns.lookup and dns.promises.lookup.
import dns from 'node:dns';
import { readFileSync } from 'node:fs';

const file = process.env.K8S_EMULATOR_DNS_FILE;
const namespace = process.env.K8S_EMULATOR_NAMESPACE ?? 'default';
const domain = 'cluster.local';

function clusterAddresses(hostname) {
  if (!file || typeof hostname !== 'string') return undefined;
  let records;
  try {
    records = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  const name = hostname.toLowerCase().replace(/\.$/, '');
  for (const c of [name, `${name}.${namespace}.svc.${domain}`, `${name}.svc.${domain}`, `${name}.${domain}`]) {
    if (records[c]) return records[c];
  }
  if (name.endsWith(`.${domain}`) || name.endsWith('.svc')) return [];
  return undefined;
}

function notFound(hostname) {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname });
}

function answer(hostname, options, addresses) {
  const opts = typeof options === 'number' ? { family: options } : options ?? {};
  const family = opts.family === 'IPv6' ? 6 : opts.family === 'IPv4' ? 4 : Number(opts.family ?? 0);
  if (family === 6 || addresses.length === 0) throw notFound(hostname);
  const all = addresses.map((address) => ({ address, family: 4 }));
  return opts.all ? all : all[0];
}

const originalLookup = dns.lookup;
dns.lookup = function lookup(hostname, options, callback) {
  const cb = typeof options === 'function' ? options : callback;
  const opts = typeof options === 'function' ? {} : options;
  const addresses = clusterAddresses(hostname);
  if (addresses === undefined) return originalLookup.call(dns, hostname, options, callback);
  process.nextTick(() => {
    let result;
    try {
      result = answer(hostname, opts, addresses);
    } catch (e) {
      cb(e);
      return;
    }
    if (Array.isArray(result)) cb(null, result);
    else cb(null, result.address, result.family);
  });
  return undefined;
};

const originalPromiseLookup = dns.promises.lookup;
dns.promises.lookup = async function lookup(hostname, options) {
  const addresses = clusterAddresses(hostname);
  if (addresses === undefined) return originalPromiseLookup.call(dns.promises, hostname, options);
  return answer(hostname, options, addresses);
};
