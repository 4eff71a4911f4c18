import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  macvlanLinkInfo,
  nftAcceptBatch,
  nlattr,
  parseAttrs,
  parseLinkInfo,
  parseNetlinkAcks,
} from '../../../src/vrrp/netlink-attrs.js';
import { VrrpError } from '../../../src/vrrp/errors.js';
import { toHex } from '../../../src/util/bytes.js';

const hex = (s: string): string => s.replace(/\s+|\/\/.*$/gm, '');

describe('netlink attributes', () => {
  it('pads to 4 bytes and keeps the unpadded length in the header (netlink(7))', () => {
    expect(toHex(nlattr(3, Uint8Array.of(0xaa)))).toBe(hex('0500 0300 aa000000'));
    const parsed = parseAttrs(nlattr(3, Uint8Array.of(0xaa)));
    expect([...parsed.keys()]).toEqual([3]);
    expect(toHex(parsed.get(3) as Uint8Array)).toBe('aa');
  });

  it('parsing random bytes never throws and never reads past the buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        for (const v of parseAttrs(b).values()) expect(v.length).toBeLessThanOrEqual(b.length);
        parseLinkInfo(b);
        parseNetlinkAcks(b);
      }),
    );
  });
});

describe('macvlan IFLA_LINKINFO (include/uapi/linux/if_link.h)', () => {
  it('is IFLA_INFO_KIND "macvlan" and IFLA_INFO_DATA { IFLA_MACVLAN_MODE private }, as iproute2 sends it', () => {
    expect(toHex(macvlanLinkInfo('private'))).toBe(
      hex(`
        0c00 0100 6d6163766c616e00   // IFLA_INFO_KIND (1), "macvlan\\0"
        0c00 0280                    // IFLA_INFO_DATA (2) | NLA_F_NESTED, 12 bytes
        0800 0100 01000000           //   IFLA_MACVLAN_MODE (1), MACVLAN_MODE_PRIVATE (1)
      `),
    );
    expect(parseLinkInfo(macvlanLinkInfo('bridge'))).toEqual({ kind: 'macvlan', macvlanMode: 'bridge' });
    expect(parseLinkInfo(nlattr(1, new TextEncoder().encode('veth\0')))).toEqual({ kind: 'veth', macvlanMode: undefined });
  });
});

describe('nftables accept-mode batch (nf_tables.h)', () => {
  const vip4 = Uint8Array.of(192, 0, 2, 100);
  const vip6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 0x64]);

  /** The messages of a batch as { type, flags, seq, family, body }. */
  function messages(bytes: Uint8Array): { type: number; flags: number; seq: number; family: number; body: Uint8Array }[] {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = [];
    for (let o = 0; o < bytes.length; ) {
      const len = v.getUint32(o, true);
      out.push({ type: v.getUint16(o + 4, true), flags: v.getUint16(o + 6, true), seq: v.getUint32(o + 8, true), family: bytes[o + 16] ?? -1, body: bytes.subarray(o + 20, o + len) });
      o += len;
    }
    return out;
  }

  it('is one transaction: begin, table created / deleted / created, input chain, a drop rule per address, end', () => {
    const b = nftAcceptBatch({ family: 'ipv4', table: 'lvskit_vrrp', addresses: [vip4], seq: 100 });
    const m = messages(b.bytes);
    // NFNL_MSG_BATCH_BEGIN (0x10) ... NFNL_MSG_BATCH_END (0x11); NFT_MSG_* are (NFNL_SUBSYS_NFTABLES 10 << 8) | type.
    expect(m.map((x) => x.type)).toEqual([0x10, 0x0a00, 0x0a02, 0x0a00, 0x0a03, 0x0a06, 0x11]);
    expect(m.map((x) => x.seq)).toEqual([100, 101, 102, 103, 104, 105, 106]);
    expect(b.acked).toEqual([101, 102, 103, 104, 105]);
    // NFPROTO_IPV4 on the content messages; NLM_F_REQUEST | NLM_F_ACK, plus CREATE / APPEND where due.
    expect(m.slice(1, -1).map((x) => x.family)).toEqual([2, 2, 2, 2, 2]);
    expect(m[1]?.flags).toBe(0x1 | 0x4 | 0x400);
    expect(m[5]?.flags).toBe(0x1 | 0x4 | 0x400 | 0x800);
    // The chain: hook NF_INET_LOCAL_IN (1), priority 0, policy accept, type "filter".
    const chain = parseAttrs(m[4]?.body ?? new Uint8Array(0));
    const hook = parseAttrs(chain.get(4) ?? new Uint8Array(0));
    expect(toHex(hook.get(1) as Uint8Array)).toBe('00000001');
    expect(toHex(hook.get(2) as Uint8Array)).toBe('00000000');
    expect(toHex(chain.get(5) as Uint8Array)).toBe('00000001');
    // The rule's expressions: payload @nh,16,4 -> cmp eq 192.0.2.100 -> immediate verdict NF_DROP (0).
    const rule = m[5]?.body as Uint8Array;
    expect(toHex(rule)).toContain(toHex(vip4));
    const names = new TextDecoder().decode(parseAttrs(rule).get(4)).match(/payload|cmp|immediate|meta/g);
    expect(names).toEqual(['payload', 'cmp', 'immediate']);
  });

  it('IPv6: neighbour solicitations and advertisements to the address are accepted before the drop (RFC 5798 §6.1)', () => {
    const b = nftAcceptBatch({ family: 'ipv6', table: 't', addresses: [vip6], seq: 1 });
    const m = messages(b.bytes);
    const rules = m.filter((x) => x.type === 0x0a06);
    expect(rules).toHaveLength(3);
    expect(m.slice(1, -1).every((x) => x.family === 10)).toBe(true);
    const names = (r: Uint8Array): string[] => new TextDecoder().decode(r).match(/payload|cmp|immediate|meta/g) ?? [];
    expect(names(rules[0]?.body as Uint8Array)).toEqual(['payload', 'cmp', 'meta', 'cmp', 'payload', 'cmp', 'immediate']);
    // ICMPv6 type 135 then 136 (RFC 4861 §4.3, §4.4), verdict NF_ACCEPT (1); then the drop.
    expect(toHex(rules[0]?.body as Uint8Array)).toContain('0500010087'); // NFTA_DATA_VALUE, 1 byte: 135
    expect(toHex(rules[1]?.body as Uint8Array)).toContain('0500010088'); // 136
    expect(toHex(rules[2]?.body as Uint8Array)).toContain(toHex(vip6));
    expect(names(rules[2]?.body as Uint8Array)).toEqual(['payload', 'cmp', 'immediate']);
  });

  it('owner: every NEWTABLE carries NFTA_TABLE_FLAGS NFT_TABLE_F_OWNER (2), DELTABLE only the name', () => {
    const m = messages(nftAcceptBatch({ family: 'ipv4', table: 't', addresses: [vip4], seq: 1, owner: true }).bytes);
    const tables = m.filter((x) => x.type === 0x0a00).map((x) => parseAttrs(x.body));
    expect(tables).toHaveLength(2);
    for (const t of tables) expect(toHex(t.get(2) as Uint8Array)).toBe('00000002');
    expect(parseAttrs(m.find((x) => x.type === 0x0a02)?.body ?? new Uint8Array(0)).has(2)).toBe(false);
    expect(parseAttrs(messages(nftAcceptBatch({ family: 'ipv4', table: 't', addresses: [vip4], seq: 1 }).bytes)[1]?.body ?? new Uint8Array(0)).has(2)).toBe(false);
  });

  it('with no addresses only deletes the table; bad names and address sizes are typed errors', () => {
    const m = messages(nftAcceptBatch({ family: 'ipv4', table: 't', addresses: [], seq: 1 }).bytes);
    expect(m.map((x) => x.type)).toEqual([0x10, 0x0a00, 0x0a02, 0x11]);
    expect(() => nftAcceptBatch({ family: 'ipv4', table: 'bad name', addresses: [], seq: 1 })).toThrow(VrrpError);
    expect(() => nftAcceptBatch({ family: 'ipv4', table: 't', addresses: [vip6], seq: 1 })).toThrow(VrrpError);
  });

  it('reads NLMSG_ERROR replies as acks (0) and errors (-errno)', () => {
    const reply = (seq: number, error: number): Uint8Array => {
      const b = new Uint8Array(36);
      const v = new DataView(b.buffer);
      v.setUint32(0, 36, true);
      v.setUint16(4, 2, true); // NLMSG_ERROR
      v.setUint32(8, seq, true);
      v.setInt32(16, error, true);
      return b;
    };
    const both = new Uint8Array(72);
    both.set(reply(7, 0));
    both.set(reply(8, -17), 36);
    expect(parseNetlinkAcks(both)).toEqual([
      { seq: 7, error: 0 },
      { seq: 8, error: -17 },
    ]);
  });
});
