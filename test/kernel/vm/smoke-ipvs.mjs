// Kernel-tier smoke test (runs INSIDE the VM, see test/kernel/harness/vm.ts): create one IPVS service
// through raw generic netlink and check that ipvsadm sees it. Deliberately minimal and independent of
// lvskit's own IPVS client: it proves the VM, the netlink addon and the kernel's IPVS family work.
//
// Numbers are from the kernel's include/uapi/linux/ip_vs.h and include/uapi/linux/netlink.h.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import netlink from 'netlink';

const { createGenericNetlink, genl } = netlink;

const IPVS_GENL_NAME = 'IPVS';
const IPVS_GENL_VERSION = 1; // IPVS_GENL_VERSION
const IPVS_CMD_NEW_SERVICE = 1;
const IPVS_CMD_ATTR_SERVICE = 1;
const IPVS_SVC_ATTR_AF = 1;
const IPVS_SVC_ATTR_PROTOCOL = 2;
const IPVS_SVC_ATTR_ADDR = 3;
const IPVS_SVC_ATTR_PORT = 4;
const IPVS_SVC_ATTR_SCHED_NAME = 6;
const IPVS_SVC_ATTR_FLAGS = 7;
const IPVS_SVC_ATTR_TIMEOUT = 8;
const IPVS_SVC_ATTR_NETMASK = 9;
const NLA_F_NESTED = 0x8000;
const NLMSG_ERROR = 2;
const AF_INET = 2;
const IPPROTO_TCP = 6;

/** One netlink attribute: u16 length (header + payload, unpadded), u16 type, payload padded to 4. */
function nla(type, payload) {
  const len = 4 + payload.length;
  const buf = Buffer.alloc((len + 3) & ~3);
  buf.writeUInt16LE(len, 0);
  buf.writeUInt16LE(type, 2);
  payload.copy(buf, 4);
  return buf;
}
const u16 = (v) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
const be16 = (v) => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };

const sock = createGenericNetlink();
try {
  // CTRL_CMD_GETFAMILY for "IPVS": the family id is dynamic.
  const [family] = await sock.ctrlRequest(genl.Commands.GET_FAMILY, { familyName: IPVS_GENL_NAME });
  assert.ok(family?.familyId, 'controller returned no IPVS family id (is ip_vs loaded?)');
  assert.equal(family.familyName, IPVS_GENL_NAME);
  assert.equal(family.version, IPVS_GENL_VERSION);
  console.log(`IPVS genl family id ${family.familyId} version ${family.version}`);

  // IPVS_CMD_NEW_SERVICE: TCP 10.0.0.1:80, scheduler rr.
  const addr = Buffer.alloc(16); // union nf_inet_addr; IPv4 in the first 4 bytes
  Buffer.from([10, 0, 0, 1]).copy(addr);
  const service = Buffer.concat([
    nla(IPVS_SVC_ATTR_AF, u16(AF_INET)),
    nla(IPVS_SVC_ATTR_PROTOCOL, u16(IPPROTO_TCP)),
    nla(IPVS_SVC_ATTR_ADDR, addr),
    nla(IPVS_SVC_ATTR_PORT, be16(80)), // network byte order
    nla(IPVS_SVC_ATTR_SCHED_NAME, Buffer.from('rr\0')),
    nla(IPVS_SVC_ATTR_FLAGS, Buffer.concat([u32(0), u32(0)])), // struct ip_vs_flags { flags, mask }
    nla(IPVS_SVC_ATTR_TIMEOUT, u32(0)),
    nla(IPVS_SVC_ATTR_NETMASK, Buffer.from([0xff, 0xff, 0xff, 0xff])),
  ]);
  const genlHeader = Buffer.from([IPVS_CMD_NEW_SERVICE, IPVS_GENL_VERSION, 0, 0]); // cmd, version, reserved
  const payload = Buffer.concat([genlHeader, nla(IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, service)]);

  // NLM_F_REQUEST | NLM_F_ACK (set by request()); read the ack ourselves rather than trusting a wrapper.
  const [replies] = await sock.socket.request(family.familyId, [payload], { checkError: false, timeout: 10_000 });
  const ack = replies[0];
  assert.ok(ack, 'no reply to IPVS_CMD_NEW_SERVICE');
  assert.equal(ack.type, NLMSG_ERROR, `expected an ack (NLMSG_ERROR), got message type ${ack.type}`);
  const errno = ack.data.readInt32LE(0);
  assert.equal(errno, 0, `IPVS_CMD_NEW_SERVICE failed with errno ${-errno}`);
  console.log('IPVS_CMD_NEW_SERVICE acked');
} finally {
  sock.socket.close();
}

const table = execFileSync('ipvsadm', ['-Ln'], { encoding: 'utf8' });
console.log(table);
assert.match(table, /^TCP {2}10\.0\.0\.1:80 rr\s*$/m, 'service missing from ipvsadm -Ln');
console.log('smoke-ipvs: ok');
