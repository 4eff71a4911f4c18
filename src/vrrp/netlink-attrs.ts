/**
 * Netlink attributes and messages the `netlink` package has no schema for:
 * IFLA_LINKINFO of a macvlan (include/uapi/linux/if_link.h) and nftables
 * batches (include/uapi/linux/netfilter/nf_tables.h, nfnetlink.h). Pure: bytes
 * in, bytes out; the drivers are vips.ts and accept.ts.
 *
 * Layout (netlink(7)): a message is `nlmsghdr` (u32 length, u16 type, u16
 * flags, u32 seq, u32 port, host order) and a payload; an attribute is
 * `nlattr` (u16 length, u16 type, host order) and a payload padded to 4 bytes.
 * nftables payloads start with `nfgenmsg` (u8 family, u8 version, be16 res_id)
 * and carry integers big-endian (nf_tables.h: "NLA_U32 ... in network byte order").
 */
import { VrrpError } from './errors.js';

/** NLA_F_NESTED (include/uapi/linux/netlink.h). */
const NLA_F_NESTED = 0x8000;
const NLMSG_HDRLEN = 16;

const pad4 = (n: number): number => (n + 3) & ~3;

/** One attribute: header, payload, padding. */
export function nlattr(type: number, payload: Uint8Array): Uint8Array {
  const len = 4 + payload.length;
  const out = new Uint8Array(pad4(len));
  const v = new DataView(out.buffer);
  v.setUint16(0, len, true);
  v.setUint16(2, type, true);
  out.set(payload, 4);
  return out;
}

/** A nested attribute (NLA_F_NESTED set) holding `attrs`. */
export function nested(type: number, ...attrs: Uint8Array[]): Uint8Array {
  return nlattr(type | NLA_F_NESTED, concat(attrs));
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

export function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, false);
  return b;
}

/** A NUL-terminated string payload. */
export function strz(s: string): Uint8Array {
  const text = new TextEncoder().encode(s);
  const out = new Uint8Array(text.length + 1);
  out.set(text);
  return out;
}

/** Attributes of a payload by type (NLA_F_NESTED and NLA_F_NET_BYTEORDER masked off); later duplicates win. */
export function parseAttrs(buf: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  // Bounded by the buffer: every attribute is at least 4 bytes.
  while (o + 4 <= buf.length) {
    const len = v.getUint16(o, true);
    const type = v.getUint16(o + 2, true) & 0x3fff;
    if (len < 4 || o + len > buf.length) break;
    out.set(type, buf.subarray(o + 4, o + len));
    o += pad4(len);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// rtnetlink: macvlan link info (include/uapi/linux/if_link.h)

const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_MACVLAN_MODE = 1;

/** MACVLAN_MODE_* (if_link.h). keepalived's VMACs use private mode. */
export const MACVLAN_MODE = { private: 1, vepa: 2, bridge: 4, passthru: 8 } as const;
export type MacvlanMode = keyof typeof MACVLAN_MODE;

/** The IFLA_LINKINFO payload (without its own header) of a macvlan in `mode`. */
export function macvlanLinkInfo(mode: MacvlanMode): Uint8Array {
  return concat([nlattr(IFLA_INFO_KIND, strz('macvlan')), nested(IFLA_INFO_DATA, nlattr(IFLA_MACVLAN_MODE, u32le(MACVLAN_MODE[mode])))]);
}

/** Kind (`macvlan`, `veth`...) and macvlan mode from an IFLA_LINKINFO payload. */
export function parseLinkInfo(buf: Uint8Array): { kind: string | undefined; macvlanMode: MacvlanMode | undefined } {
  const attrs = parseAttrs(buf);
  const kindBytes = attrs.get(IFLA_INFO_KIND);
  const kind = kindBytes === undefined ? undefined : new TextDecoder().decode(kindBytes).replace(/\0+$/, '');
  let macvlanMode: MacvlanMode | undefined;
  const data = attrs.get(IFLA_INFO_DATA);
  const mode = data === undefined ? undefined : parseAttrs(data).get(IFLA_MACVLAN_MODE);
  if (kind === 'macvlan' && mode !== undefined && mode.length >= 4) {
    const m = new DataView(mode.buffer, mode.byteOffset, 4).getUint32(0, true);
    macvlanMode = (Object.keys(MACVLAN_MODE) as MacvlanMode[]).find((k) => MACVLAN_MODE[k] === m);
  }
  return { kind, macvlanMode };
}

// ---------------------------------------------------------------------------------------------
// nftables (include/uapi/linux/netfilter/nf_tables.h, nfnetlink.h, netfilter.h)

/** NETLINK_NETFILTER (include/uapi/linux/netlink.h). */
export const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFT_MSG_NEWTABLE = 0;
const NFT_MSG_DELTABLE = 2;
const NFT_MSG_NEWCHAIN = 3;
const NFT_MSG_NEWRULE = 6;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLM_F_APPEND = 0x800;

/** NFPROTO_IPV4 / NFPROTO_IPV6 (netfilter.h). */
export const NFPROTO = { ipv4: 2, ipv6: 10 } as const;
const NF_INET_LOCAL_IN = 1;
const NF_DROP = 0;
const NF_ACCEPT = 1;

const NFTA_TABLE_NAME = 1;
const NFTA_TABLE_FLAGS = 2;
/** NFT_TABLE_F_OWNER (Linux 5.12): the table belongs to the netlink socket that made it and goes when it closes. */
const NFT_TABLE_F_OWNER = 2;
const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_NAME = 3;
const NFTA_CHAIN_HOOK = 4;
const NFTA_CHAIN_POLICY = 5;
const NFTA_CHAIN_TYPE = 7;
const NFTA_HOOK_HOOKNUM = 1;
const NFTA_HOOK_PRIORITY = 2;
const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;
const NFTA_RULE_EXPRESSIONS = 4;
const NFTA_LIST_ELEM = 1;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const NFTA_PAYLOAD_DREG = 1;
const NFTA_PAYLOAD_BASE = 2;
const NFTA_PAYLOAD_OFFSET = 3;
const NFTA_PAYLOAD_LEN = 4;
const NFT_PAYLOAD_NETWORK_HEADER = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER = 2;
const NFTA_CMP_SREG = 1;
const NFTA_CMP_OP = 2;
const NFTA_CMP_DATA = 3;
const NFT_CMP_EQ = 0;
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFTA_IMMEDIATE_DREG = 1;
const NFTA_IMMEDIATE_DATA = 2;
const NFTA_META_DREG = 1;
const NFTA_META_KEY = 2;
const NFT_META_L4PROTO = 16;
const NFT_REG_VERDICT = 0;
const NFT_REG_1 = 1;
const IPPROTO_ICMPV6 = 58;
const ND_NEIGHBOR_SOLICIT = 135;
const ND_NEIGHBOR_ADVERT = 136;

function expr(name: string, ...attrs: Uint8Array[]): Uint8Array {
  return nested(NFTA_LIST_ELEM, nlattr(NFTA_EXPR_NAME, strz(name)), nested(NFTA_EXPR_DATA, ...attrs));
}

function payload(base: number, offset: number, len: number): Uint8Array {
  return expr('payload', nlattr(NFTA_PAYLOAD_DREG, u32be(NFT_REG_1)), nlattr(NFTA_PAYLOAD_BASE, u32be(base)), nlattr(NFTA_PAYLOAD_OFFSET, u32be(offset)), nlattr(NFTA_PAYLOAD_LEN, u32be(len)));
}

function cmpEq(value: Uint8Array): Uint8Array {
  return expr('cmp', nlattr(NFTA_CMP_SREG, u32be(NFT_REG_1)), nlattr(NFTA_CMP_OP, u32be(NFT_CMP_EQ)), nested(NFTA_CMP_DATA, nlattr(NFTA_DATA_VALUE, value)));
}

function verdict(code: number): Uint8Array {
  return expr('immediate', nlattr(NFTA_IMMEDIATE_DREG, u32be(NFT_REG_VERDICT)), nested(NFTA_IMMEDIATE_DATA, nested(NFTA_DATA_VERDICT, nlattr(NFTA_VERDICT_CODE, u32be(code)))));
}

/** `ip daddr A` / `ip6 daddr A`: the destination field of the network header (RFC 791 offset 16, RFC 8200 offset 24). */
function daddrIs(address: Uint8Array): Uint8Array[] {
  return address.length === 4 ? [payload(NFT_PAYLOAD_NETWORK_HEADER, 16, 4), cmpEq(address)] : [payload(NFT_PAYLOAD_NETWORK_HEADER, 24, 16), cmpEq(address)];
}

/** `meta l4proto icmpv6 icmpv6 type T` (RFC 4443 §2.1: type is the first byte). */
function icmpv6TypeIs(type: number): Uint8Array[] {
  return [
    expr('meta', nlattr(NFTA_META_DREG, u32be(NFT_REG_1)), nlattr(NFTA_META_KEY, u32be(NFT_META_L4PROTO))),
    cmpEq(Uint8Array.of(IPPROTO_ICMPV6)),
    payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1),
    cmpEq(Uint8Array.of(type)),
  ];
}

function message(type: number, flags: number, seq: number, family: number, resId: number, body: Uint8Array): Uint8Array {
  const len = NLMSG_HDRLEN + 4 + body.length;
  const out = new Uint8Array(len);
  const v = new DataView(out.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, type, true);
  v.setUint16(6, flags, true);
  v.setUint32(8, seq >>> 0, true);
  v.setUint32(12, 0, true);
  out[16] = family; // nfgenmsg.nfgen_family
  out[17] = 0; // NFNETLINK_V0
  v.setUint16(18, resId, false);
  out.set(body, 20);
  return out;
}

const nft = (t: number): number => (NFNL_SUBSYS_NFTABLES << 8) | t;

export interface NftBatch {
  bytes: Uint8Array;
  /** Sequence numbers of the messages that get an ACK (all but the batch delimiters). */
  acked: number[];
}

/**
 * One nftables transaction that (re)creates table `table` in `family` with an
 * input chain dropping packets to `addresses` (their own copies of stale rules
 * go with the old table: create, delete and create again in one batch) — or,
 * with no addresses, only deletes it. IPv6: neighbour solicitations and
 * advertisements to the addresses are accepted first (RFC 5798 §6.1
 * Accept_Mode: they MUST NOT be dropped). With `owner`, the table is created
 * with NFT_TABLE_F_OWNER: only the sending socket may change it, and the kernel
 * deletes it when that socket closes (the process exits or crashes).
 */
export function nftAcceptBatch(opts: { family: 'ipv4' | 'ipv6'; table: string; addresses: readonly Uint8Array[]; seq: number; owner?: boolean }): NftBatch {
  if (!/^[A-Za-z0-9_-]{1,31}$/.test(opts.table)) throw new VrrpError('ERR_VRRP_CONFIG', `nftables table name '${opts.table}'`);
  const fam = NFPROTO[opts.family];
  let seq = opts.seq;
  const acked: number[] = [];
  const msgs: Uint8Array[] = [message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES, new Uint8Array(0))];
  const push = (type: number, flags: number, body: Uint8Array): void => {
    acked.push(seq);
    msgs.push(message(nft(type), NLM_F_REQUEST | NLM_F_ACK | flags, seq++, fam, 0, body));
  };
  const tableName = nlattr(NFTA_TABLE_NAME, strz(opts.table));
  const newTable = opts.owner === true ? concat([tableName, nlattr(NFTA_TABLE_FLAGS, u32be(NFT_TABLE_F_OWNER))]) : tableName;
  push(NFT_MSG_NEWTABLE, NLM_F_CREATE, newTable);
  push(NFT_MSG_DELTABLE, 0, tableName);
  if (opts.addresses.length > 0) {
    push(NFT_MSG_NEWTABLE, NLM_F_CREATE, newTable);
    push(
      NFT_MSG_NEWCHAIN,
      NLM_F_CREATE,
      concat([
        nlattr(NFTA_CHAIN_TABLE, strz(opts.table)),
        nlattr(NFTA_CHAIN_NAME, strz('input')),
        nested(NFTA_CHAIN_HOOK, nlattr(NFTA_HOOK_HOOKNUM, u32be(NF_INET_LOCAL_IN)), nlattr(NFTA_HOOK_PRIORITY, u32be(0))),
        nlattr(NFTA_CHAIN_POLICY, u32be(NF_ACCEPT)),
        nlattr(NFTA_CHAIN_TYPE, strz('filter')),
      ]),
    );
    const rule = (exprs: Uint8Array[]): void =>
      push(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, concat([nlattr(NFTA_RULE_TABLE, strz(opts.table)), nlattr(NFTA_RULE_CHAIN, strz('input')), nested(NFTA_RULE_EXPRESSIONS, ...exprs)]));
    for (const a of opts.addresses) {
      if (a.length !== (opts.family === 'ipv4' ? 4 : 16)) throw new VrrpError('ERR_VRRP_ADDRESS', `${a.length}-byte address in an ${opts.family} table`);
      if (opts.family === 'ipv6') {
        for (const t of [ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT]) rule([...daddrIs(a), ...icmpv6TypeIs(t), verdict(NF_ACCEPT)]);
      }
      rule([...daddrIs(a), verdict(NF_DROP)]);
    }
  }
  msgs.push(message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES, new Uint8Array(0)));
  return { bytes: concat(msgs), acked };
}

/** Replies in a netlink datagram: `{ seq, error }` for NLMSG_ERROR (error 0: an ACK), others ignored. */
export function parseNetlinkAcks(buf: Uint8Array): { seq: number; error: number }[] {
  const out: { seq: number; error: number }[] = [];
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  while (o + NLMSG_HDRLEN <= buf.length) {
    const len = v.getUint32(o, true);
    if (len < NLMSG_HDRLEN || o + len > buf.length) break;
    const type = v.getUint16(o + 4, true);
    const seq = v.getUint32(o + 8, true);
    // NLMSG_ERROR = 2: struct nlmsgerr { int error; struct nlmsghdr msg; }
    if (type === 2 && len >= NLMSG_HDRLEN + 4) out.push({ seq, error: v.getInt32(o + NLMSG_HDRLEN, true) });
    o += pad4(len);
  }
  return out;
}
