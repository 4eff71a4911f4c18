/**
 * Messages captured from a real BIRD 2.0.12 (Debian 12 package bird2 2.0.12-7),
 * on loopback: BIRD (router id 192.0.2.1, AS 4200000001, graceful restart on,
 * extended messages on, IPv4 and IPv6 channels exporting static routes)
 * talking to a capture peer (AS 65002) that answered OPEN + KEEPALIVE. Bytes
 * are as BIRD sent them, split into messages and annotated field by field.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../src/util/bytes.js';
import { MessageFramer } from '../../../src/bgp/codec-header.js';
import { decodeMessage, encodeMessage } from '../../../src/bgp/codec.js';
import type { DecodedMessage } from '../../../src/bgp/codec.js';
import { isEndOfRib } from '../../../src/bgp/codec-update.js';
import type { UpdateMessage } from '../../../src/bgp/codec-update.js';
import { negotiate } from '../../../src/bgp/fsm.js';
import { formatCommunity, formatLargeCommunity } from '../../../src/bgp/communities.js';

const M = 'ffffffffffffffffffffffffffffffff'; // marker (RFC 4271 §4.1)
const c = (s: string): string => s.replace(/\s+/g, '');

const BIRD_OPEN = c(
  M +
    '0043 01' + // length 67, OPEN
    '04' + // version 4
    '5ba0' + // My AS: AS_TRANS (RFC 6793 §4.1), the real AS is in the capability
    '005a' + // hold time 90
    'c0000201' + // BGP identifier 192.0.2.1
    '26' + // Opt Parm Len 38
    '02 24' + // one Capabilities parameter of 36 bytes (RFC 5492 §4)
    '01 04 0001 00 01' + // multiprotocol IPv4 unicast (RFC 4760 §8)
    '01 04 0002 00 01' + // multiprotocol IPv6 unicast
    '02 00' + // route refresh (RFC 2918)
    '06 00' + // extended message (RFC 8654)
    '40 0a 0078 0001 01 00 0002 01 00' + // graceful restart: no R bit, 120 s; IPv4 and IPv6 unicast, F bit clear (RFC 4724 §3)
    '41 04 fa56ea01' + // 4-octet AS 4200000001 (RFC 6793 §3)
    '46 00', // enhanced route refresh (RFC 7313)
);
const BIRD_KEEPALIVE = c(M + '0013 04');
const BIRD_UPDATE_1 = c(
  M +
    '002f 02' + // length 47, UPDATE
    '0000' + // no withdrawn routes
    '0014' + // path attributes: 20 bytes
    '40 01 01 00' + // ORIGIN IGP
    '40 02 06 02 01 fa56ea01' + // AS_PATH: AS_SEQUENCE [4200000001], 4-octet (both sides have the capability)
    '40 03 04 c0000201' + // NEXT_HOP 192.0.2.1 ("next hop address" in BIRD's config)
    '18 c63364', // NLRI 198.51.100.0/24
);
const BIRD_UPDATE_2 = c(
  M +
    '004a 02' + // length 74
    '0000' +
    '002e' + // path attributes: 46 bytes
    '40 01 01 00' + // ORIGIN IGP
    '40 02 06 02 01 fa56ea01' + // AS_PATH [4200000001]
    '40 03 04 c0000201' + // NEXT_HOP 192.0.2.1 (BIRD drops the configured MED towards an eBGP peer)
    'c0 08 08 fde90064 ffffff01' + // COMMUNITIES 65001:100, NO_EXPORT (RFC 1997)
    'c0 20 0c fa56ea01 00000001 00000002' + // LARGE_COMMUNITY 4200000001:1:2 (RFC 8092)
    '19 cb007100', // NLRI 203.0.113.0/25
);
const BIRD_EOR_V4 = c(M + '0017 02' + '0000' + '0000'); // End-of-RIB IPv4 unicast (RFC 4724 §2)
const BIRD_UPDATE_V6 = c(
  M +
    '0044 02' + // length 68
    '0000' +
    '002d' + // path attributes: 45 bytes
    '90 0e 001c' + // MP_REACH_NLRI with the Extended Length flag, length 28 (BIRD always uses 2-octet lengths here)
    '0002 01' + // AFI IPv6, SAFI unicast
    '10 20010db8000000000000000000000001' + // next hop length 16: 2001:db8::1 only (multihop: no link-local)
    '00' + // reserved
    '30 20010db80100' + // 2001:db8:100::/48
    '40 01 01 00' + // ORIGIN IGP
    '40 02 06 02 01 fa56ea01', // AS_PATH [4200000001]
);
const BIRD_EOR_V6 = c(M + '001d 02' + '0000' + '0006' + '80 0f 03 0002 01'); // End-of-RIB IPv6: empty MP_UNREACH_NLRI

const STREAM = [BIRD_OPEN, BIRD_KEEPALIVE, BIRD_UPDATE_1, BIRD_UPDATE_2, BIRD_EOR_V4, BIRD_UPDATE_V6, BIRD_EOR_V6];

function update(d: DecodedMessage): UpdateMessage {
  if (d.kind !== 'update' || d.update.kind !== 'update') throw new Error(`not a clean UPDATE: ${d.kind}`);
  return d.update.update;
}

describe('BIRD 2.0.12 capture', () => {
  it('frames the captured stream into its seven messages at every split point', () => {
    const all = fromHex(STREAM.join(''));
    for (let cut = 0; cut <= all.length; cut++) {
      const f = new MessageFramer({ maxLength: 65535 });
      const got = [...f.push(all.subarray(0, cut)), ...f.push(all.subarray(cut))].map(toHex);
      expect(got).toEqual(STREAM);
    }
  });

  it("decodes BIRD's OPEN and negotiates with it", () => {
    const d = decodeMessage(fromHex(BIRD_OPEN));
    expect(d).toEqual({
      kind: 'open',
      open: {
        version: 4,
        myAs: 23456,
        holdTime: 90,
        bgpId: '192.0.2.1',
        capabilities: [
          { kind: 'multiprotocol', afi: 1, safi: 1 },
          { kind: 'multiprotocol', afi: 2, safi: 1 },
          { kind: 'route-refresh' },
          { kind: 'extended-message' },
          {
            kind: 'graceful-restart',
            restarting: false,
            notification: false,
            restartTime: 120,
            families: [
              { afi: 1, safi: 1, forwardingPreserved: false },
              { afi: 2, safi: 1, forwardingPreserved: false },
            ],
          },
          { kind: 'four-octet-as', asn: 4200000001 },
          { kind: 'enhanced-route-refresh' },
        ],
      },
    });
    if (d.kind !== 'open') throw new Error('unreachable');
    // Our encoder groups capabilities the same way: the bytes come back identical.
    expect(toHex(encodeMessage(d))).toBe(BIRD_OPEN);
    const n = negotiate(
      {
        localAs: 65002,
        routerId: '10.0.0.2',
        peerAs: 4200000001,
        capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'multiprotocol', afi: 2, safi: 1 }, { kind: 'four-octet-as', asn: 65002 }, { kind: 'extended-message' }],
      },
      d.open,
    );
    expect(n).toMatchObject({ peerAs: 4200000001, fourOctetAs: true, extendedMessage: true, holdTime: 90, keepaliveTime: 30, routeRefresh: true });
    expect(n.peerGracefulRestart?.restartTime).toBe(120);
  });

  it("decodes BIRD's IPv4 UPDATEs and re-encodes them byte for byte", () => {
    const u1 = update(decodeMessage(fromHex(BIRD_UPDATE_1)));
    expect(u1).toEqual({
      withdrawn: [],
      attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [4200000001] }], nextHop: '192.0.2.1' },
      nlri: [{ prefix: '198.51.100.0/24' }],
    });
    const u2 = update(decodeMessage(fromHex(BIRD_UPDATE_2)));
    expect(u2.nlri).toEqual([{ prefix: '203.0.113.0/25' }]);
    expect(u2.attributes.communities?.map(formatCommunity)).toEqual(['65001:100', 'no-export']);
    expect(u2.attributes.largeCommunities?.map(formatLargeCommunity)).toEqual(['4200000001:1:2']);
    for (const [bytes, u] of [[BIRD_UPDATE_1, u1], [BIRD_UPDATE_2, u2]] as const) {
      expect(toHex(encodeMessage({ kind: 'update', update: u }))).toBe(bytes);
    }
  });

  it("decodes BIRD's IPv6 UPDATE (extended-length MP_REACH_NLRI) and its End-of-RIB markers", () => {
    const u = update(decodeMessage(fromHex(BIRD_UPDATE_V6), 0, { extendedMessage: true }));
    expect(u.attributes.mpReach).toEqual({ afi: 2, safi: 1, nextHop: ['2001:db8::1'], nlri: [{ prefix: '2001:db8:100::/48' }] });
    // We use the 1-octet length when it fits: one byte shorter, same meaning.
    const ours = encodeMessage({ kind: 'update', update: u });
    expect(ours.length).toBe(fromHex(BIRD_UPDATE_V6).length - 1);
    expect(update(decodeMessage(ours))).toEqual(u);
    expect(isEndOfRib(update(decodeMessage(fromHex(BIRD_EOR_V4))))).toEqual({ afi: 1, safi: 1 });
    expect(isEndOfRib(update(decodeMessage(fromHex(BIRD_EOR_V6))))).toEqual({ afi: 2, safi: 1 });
  });
});
