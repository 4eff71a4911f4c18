// The client's echo requests for the VRRP benchmark: one ICMP echo request to `dst` every
// `intervalMs`, on a fixed schedule that never waits for or backs off on missing replies (iputils
// ping slows to one request per 10 ms while replies are missing, which blurs the end of an outage).
// Replies are not read here: the capture on the client's interface sees them. A raw ICMP socket from
// lvskit's own addon (src/util/native.ts), so run through the lab tier's TypeScript loader:
//   ip netns exec <ns> chrt -f 10 node --import test/lab/harness/ts-register.mjs bench/vrrp/pinger.mjs <dst> <intervalMs> <seconds>
// Prints `pinging` once the socket is open and `send-error <seq> <code>` for each failed send;
// exits after `seconds`, or on SIGTERM.
import { RawSocket } from '../../src/util/native.ts';

const [dst, intervalArg, secondsArg] = process.argv.slice(2);
const intervalMs = Number(intervalArg);
const count = Math.ceil((Number(secondsArg) * 1000) / intervalMs);
if (dst === undefined || !(intervalMs >= 0.5) || !(count >= 1)) {
  console.log('usage: pinger.mjs <dst> <intervalMs> <seconds>');
  process.exit(2);
}

const socket = new RawSocket({ family: 4, protocol: 1, receive: false });
const id = process.pid & 0xffff;
// ICMP echo request (RFC 792): type 8, code 0, checksum, identifier, sequence, 16 bytes of data.
const packet = Buffer.alloc(24);
packet[0] = 8;
packet.writeUInt16BE(id, 4);
packet.write('lvskit-vrrp-bnch', 8, 'latin1');

function checksum(b) {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i] << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

console.log('pinging');
// No event loop needed between sends: sleep on a futex to the next slot (sub-ms precision). A
// stall skips the slots it missed rather than sending a burst; the sequence stays contiguous.
const cell = new Int32Array(new SharedArrayBuffer(4));
const start = performance.now();
let errors = 0;
for (let seq = 0, slot = 0; slot < count; seq++) {
  packet.writeUInt16BE(seq & 0xffff, 6);
  packet.writeUInt16BE(0, 2);
  packet.writeUInt16BE(checksum(packet), 2);
  try {
    socket.send(packet, dst);
  } catch (e) {
    // No neighbour (EHOSTUNREACH) and the like: that request is lost, as a real client's would be.
    errors++;
    console.log(`send-error ${seq} ${e?.code ?? e}`);
  }
  const now = performance.now();
  slot = Math.max(slot + 1, Math.ceil((now - start) / intervalMs));
  const wait = start + slot * intervalMs - now;
  if (wait > 0) Atomics.wait(cell, 0, 0, wait);
}
socket.close();
console.log(`done ${errors} send errors`);
