// A verifier of Branchline logs for Node.js 18 or later, written from docs/log-format.md
// alone: @msgpack/msgpack decodes, node:crypto does SHA-256 and Ed25519, and the canonical
// encoding (section 2) is written out below. Nothing runs it automatically; to try it:
//
//   mkdir /tmp/verify-log && cd /tmp/verify-log && npm install @msgpack/msgpack@3
//   cp REPO/docs/verify-log.mjs . && V=REPO/tests/protocol/vectors
//   node verify-log.mjs --key $V/br01_public_key.hex --push $V/br01_push_2.hex
//   node verify-log.mjs --key $V/hq_public_key.hex --feed $V/hq_feed_page.hex
//   node verify-log.mjs --key $V/br01_public_key.hex --origin BR01 --genesis \
//       --signature $V/br01_head_5_signature.hex $V/br01_entry_{1,2,3,4,5}.hex
//   node verify-log.mjs --canonical $V/canonical_value.hex
//
// Files hold hex (as the vectors do); --key and --signature also take hex inline. It prints
// what it verified and exits 0, or prints why it refused and exits 1.

import { decode } from "@msgpack/msgpack";
import { createHash, createPublicKey, verify } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";

const MAX_ENTRY_BYTES = 65_536;
const MAX_MESSAGE_BYTES = 2_097_152;
const MAX_BATCH_ENTRIES = 500;
const MAX_NAME_CHARS = 64;
const GENESIS = Buffer.alloc(32);
// An Ed25519 public key as SubjectPublicKeyInfo is this prefix and the 32 raw bytes.
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

class Refused extends Error {}

// -- section 2: canonical msgpack ---------------------------------------------------------

function encodeInt(n) {
  if (n >= 0n && n <= 0x7fn) return Buffer.from([Number(n)]);
  if (n < 0n && n >= -32n) return Buffer.from([Number(n & 0xffn)]);
  const tags = n >= 0n ? [0xcc, 0xcd, 0xce, 0xcf] : [0xd0, 0xd1, 0xd2, 0xd3];
  for (const [i, width] of [1, 2, 4, 8].entries()) {
    const bits = BigInt(8 * width);
    if (n >= 0n ? n < 1n << bits : n >= -(1n << (bits - 1n))) {
      const out = Buffer.alloc(1 + width);
      out[0] = tags[i];
      let v = n >= 0n ? n : (1n << bits) + n; // two's complement
      for (let at = width; at >= 1; at--, v >>= 8n) out[at] = Number(v & 0xffn);
      return out;
    }
  }
  throw new Refused(`integer ${n} is outside -2^63 .. 2^64-1`);
}

function header(length, fix, fixMax, lengths) {
  if (fix !== null && length <= fixMax) return Buffer.from([fix | length]);
  for (const [tag, width] of lengths) {
    if (length < 2 ** (8 * width)) {
      const out = Buffer.alloc(1 + width);
      out[0] = tag;
      out.writeUIntBE(length, 1, width);
      return out;
    }
  }
  throw new Refused(`a length of ${length} does not fit msgpack`);
}

function encodeStr(text) {
  const data = Buffer.from(text, "utf8");
  return Buffer.concat([header(data.length, 0xa0, 31, [[0xd9, 1], [0xda, 2], [0xdb, 4]]), data]);
}

// Code-point order is the order of the keys' UTF-8 bytes; JavaScript's default sort
// compares UTF-16 units and would misplace keys beyond U+FFFF.
const byCodePoint = (a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

function encode(value) {
  if (value === null) return Buffer.from([0xc0]);
  if (value === false || value === true) return Buffer.from([value ? 0xc3 : 0xc2]);
  if (typeof value === "bigint") return encodeInt(value);
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new Refused("a float; money and quantities are integers");
    return encodeInt(BigInt(value));
  }
  if (typeof value === "string") return encodeStr(value);
  if (value instanceof Uint8Array) {
    return Buffer.concat([header(value.length, null, 0, [[0xc4, 1], [0xc5, 2], [0xc6, 4]]), value]);
  }
  if (Array.isArray(value)) {
    return Buffer.concat([header(value.length, 0x90, 15, [[0xdc, 2], [0xdd, 4]]), ...value.map(encode)]);
  }
  if (value.constructor === Object) {
    const keys = Object.keys(value).sort(byCodePoint);
    const pairs = keys.flatMap((key) => [encodeStr(key), encode(value[key])]);
    return Buffer.concat([header(keys.length, 0x80, 15, [[0xde, 2], [0xdf, 4]]), ...pairs]);
  }
  throw new Refused(`${value.constructor.name} is never written (extension types, timestamps)`);
}

function decodeOne(data, maxBytes) {
  if (data.length > maxBytes) throw new Refused(`${data.length} bytes; the bound is ${maxBytes}`);
  let value;
  try {
    value = decode(data, { useBigInt64: true }); // refuses trailing bytes
  } catch (error) {
    throw new Refused(`not one msgpack value: ${error.message}`);
  }
  // A float with an integral value, a non-str key, a repeated key or invalid UTF-8
  // decodes to something that does not encode back to the same bytes.
  if (!encode(value).equals(Buffer.from(data))) throw new Refused("not in canonical form");
  return value;
}

// -- sections 3, 5 and 9 ------------------------------------------------------------------

const isInt = (v) => typeof v === "bigint" || (typeof v === "number" && Number.isInteger(v));
const isName = (v) => typeof v === "string" && [...v].length >= 1 && [...v].length <= MAX_NAME_CHARS;

function checkEntry(raw) {
  const fields = decodeOne(raw, MAX_ENTRY_BYTES);
  if (!Array.isArray(fields) || fields.length !== 9) throw new Refused("an entry is an array of 9 fields");
  const [format, origin, seq, hlc, prevHash, kind, entityId, op, payload] = fields;
  if (!isInt(format) || BigInt(format) !== 1n) throw new Refused(`format ${format}; this reads 1`);
  if (![origin, kind, entityId, op].every(isName)) throw new Refused("origin, kind, entity_id, op are names");
  if (!isInt(seq) || BigInt(seq) < 1n || !isInt(hlc) || BigInt(hlc) < 0n) {
    throw new Refused("seq is an integer from 1 and hlc one from 0");
  }
  if (!(prevHash instanceof Uint8Array) || prevHash.length !== 32) throw new Refused("prev_hash is 32 bytes");
  const hash = createHash("sha256").update(raw).digest();
  return { origin, seq: BigInt(seq), hlc: BigInt(hlc), prevHash: Buffer.from(prevHash), kind, op, payload, hash };
}

function headBytes(origin, seq, hash) {
  const context = Buffer.concat([Buffer.from([0x94, 0xb2]), Buffer.from("branchline-head-v1", "ascii")]);
  return Buffer.concat([context, encodeStr(origin), encodeInt(seq), Buffer.from([0xc4, 0x20]), hash]);
}

function checkSignature(publicKey, message, signature) {
  if (publicKey.length !== 32 || signature.length !== 64) throw new Refused("keys are 32 bytes, signatures 64");
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
  if (!verify(null, message, key, signature)) throw new Refused("the signature does not verify with this key");
}

function verifyLog(origin, raws, publicKey, signature, prevHash) {
  if (raws.length === 0) throw new Refused("a signed run holds at least one entry");
  const entries = raws.map(checkEntry);
  entries.forEach((entry, i) => {
    if (entry.origin !== origin) throw new Refused(`entry ${entry.seq} belongs to ${entry.origin}`);
    const previous = entries[i - 1];
    if (previous === undefined) {
      if (prevHash !== null && !entry.prevHash.equals(prevHash)) {
        throw new Refused(`entry ${entry.seq} does not link to the hash it should start from`);
      }
    } else if (entry.seq !== previous.seq + 1n || !entry.prevHash.equals(previous.hash)) {
      throw new Refused(`entry ${entry.seq} does not follow entry ${previous.seq}`);
    }
  });
  const last = entries.at(-1);
  checkSignature(publicKey, headBytes(origin, last.seq, last.hash), signature);
  return entries;
}

function verifyMessage(data, publicKey, type) {
  const message = decodeOne(data, MAX_MESSAGE_BYTES);
  if (!Array.isArray(message) || message.length !== 6 || message[0] !== type || message[1] !== 1) {
    throw new Refused(`not a ${type} message of version 1`);
  }
  const [, , origin, raws, signature, count] = message;
  if (!isName(origin) || !isInt(count) || !(signature instanceof Uint8Array)) throw new Refused("malformed");
  if (!Array.isArray(raws) || !raws.every((raw) => raw instanceof Uint8Array)) {
    throw new Refused("entries travel as a list of bin");
  }
  if (raws.length > MAX_BATCH_ENTRIES) throw new Refused(`${raws.length} entries; the bound is 500`);
  if (raws.length === 0 && type === "feed" && signature.length === 0) return { origin, entries: [], count };
  return { origin, entries: verifyLog(origin, raws, publicKey, Buffer.from(signature), null), count };
}

// -- the command --------------------------------------------------------------------------

const hexOf = (arg) => Buffer.from(existsSync(arg) ? readFileSync(arg, "ascii").trim() : arg, "hex");

function main(argv) {
  const options = { files: [], prevHash: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--genesis") options.prevHash = GENESIS;
    else if (arg.startsWith("--")) options[arg.slice(2)] = argv[++i];
    else options.files.push(arg);
  }
  if (options.prev !== undefined) options.prevHash = hexOf(options.prev);
  if (options.canonical !== undefined) {
    const value = decodeOne(hexOf(options.canonical), MAX_MESSAGE_BYTES);
    return `canonical: ${hexOf(options.canonical).length} bytes re-encode exactly (keys: ${Object.keys(value)})`;
  }
  const publicKey = hexOf(options.key);
  let origin, entries, note;
  if (options.push !== undefined || options.feed !== undefined) {
    const type = options.push !== undefined ? "push" : "feed";
    ({ origin, entries, count: note } = verifyMessage(hexOf(options[type]), publicKey, type));
    note = `${type} message, ${type === "push" ? "reported backlog" : "available seq"} ${note}`;
    if (entries.length === 0) return `${origin}: an empty ${type} page (${note})`;
  } else {
    origin = options.origin;
    entries = verifyLog(origin, options.files.map(hexOf), publicKey, hexOf(options.signature), options.prevHash);
    note = options.prevHash === null ? "no starting hash given" : `linked from ${options.prevHash.toString("hex")}`;
  }
  const last = entries.at(-1);
  return (
    `${origin}: entries ${entries[0].seq}..${last.seq} verified (${note}); ` +
    `head ${last.seq} ${last.hash.toString("hex")} signed by ${publicKey.toString("hex")}`
  );
}

try {
  console.log(`OK ${main(process.argv.slice(2))}`);
} catch (error) {
  if (!(error instanceof Refused)) throw error;
  console.log(`REFUSED ${error.message}`);
  process.exitCode = 1;
}
