/**
 * IP addresses and CIDR ranges, for deciding whose word about a request's identity counts.
 * @module
 */

/** An address as 16 bytes (IPv4 mapped into IPv6), or null when it is not an IP literal. */
export function parseIp(text: string): Uint8Array | null {
  const t = text.trim().replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const v4 = parseIpv4(t);
  if (v4) return mapped(v4);
  if (!t.includes(":")) return null;
  // An IPv6 address may end in dotted IPv4 (::ffff:127.0.0.1).
  let head = t;
  let tail: number[] = [];
  const lastColon = t.lastIndexOf(":");
  if (t.slice(lastColon + 1).includes(".")) {
    const four = parseIpv4(t.slice(lastColon + 1));
    if (!four) return null;
    tail = [(four[0] << 8) | four[1], (four[2] << 8) | four[3]];
    head = t.slice(0, lastColon + 1) + "0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const group = (s: string) => s === "" ? [] : s.split(":");
  const left = group(halves[0]), right = halves.length === 2 ? group(halves[1]) : [];
  if (tail.length) right.splice(right.length - 1, 1);
  const known = left.length + right.length + tail.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return null;
  const words: number[] = [];
  for (const g of [...left, ...Array(8 - known).fill("0"), ...right]) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return null;
    words.push(parseInt(g, 16));
  }
  words.push(...tail);
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

function parseIpv4(t: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(t);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : null;
}

function mapped(v4: number[]): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4, 12);
  return out;
}

/** A range: the network's bytes and how many leading bits must match. */
export interface Cidr {
  bytes: Uint8Array;
  bits: number;
}

/** Parses `10.0.0.0/8`, `::1/128` or a bare address (all its bits); null when invalid. */
export function parseCidr(text: string): Cidr | null {
  const [addr, prefix, ...rest] = text.trim().split("/");
  if (rest.length) return null;
  const bytes = parseIp(addr);
  if (!bytes) return null;
  const v4 = !addr.includes(":");
  const max = v4 ? 32 : 128;
  const n = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (!(n >= 0 && n <= max)) return null;
  return { bytes, bits: v4 ? n + 96 : n };
}

/** Whether `address` lies in `range`. */
export function inCidr(address: Uint8Array, range: Cidr): boolean {
  for (let bit = 0; bit < range.bits; bit += 8) {
    const i = bit / 8;
    const take = Math.min(8, range.bits - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    if ((address[i] & mask) !== (range.bytes[i] & mask)) return false;
  }
  return true;
}

/** Whether an address (text) lies in any of the ranges (texts); invalid entries never match. */
export function inAnyCidr(address: string, ranges: ReadonlyArray<string>): boolean {
  const ip = parseIp(address);
  if (!ip) return false;
  return ranges.some((r) => {
    const range = parseCidr(r);
    return range !== null && inCidr(ip, range);
  });
}
