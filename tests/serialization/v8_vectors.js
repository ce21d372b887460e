// Golden vectors for the `advanced` serialization, with real Node as the oracle.
//
// Node's IPC channel serializes with `ChildProcessSerializer` (lib/internal/child_process/
// serialization.js): a v8.DefaultSerializer whose host objects get a leading varint (0 for an
// ArrayBufferView, 1 for anything else). Run with --expose-internals to use Node's own
// `advanced.writeChannelMessage`/`parseChannelMessages`; without it, an equivalent subclass is
// used.
//
//   node --expose-internals v8_vectors.js emit            # "name hex" per case, Node's bytes
//   node --expose-internals v8_vectors.js check < lines   # decode "name hex" lines with Node,
//                                                         # assert.deepStrictEqual with the case
//   node --expose-internals v8_vectors.js echo < lines    # decode "name hex" lines with Node and
//                                                         # print Node's re-encoding
//   node --expose-internals v8_vectors.js corpus DIR      # one binary file per case (fuzz seeds)
//   node v8_vectors.js capture NAME...                    # "name hex" as a real child's
//                                                         # process.send() writes it on its IPC fd
//
// The hex is the frame body: the 4-byte length prefix is stripped.
'use strict';

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const v8 = require('v8');

function makeCodec() {
  try {
    const { advanced } = require('internal/child_process/serialization');
    return {
      source: 'node-internal',
      encode(value) {
        let frame;
        advanced.writeChannelMessage({ writeBuffer(req, data) { frame = data; return 0; } }, {}, value);
        return frame.subarray(4);
      },
      decode(body) {
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32BE(body.length);
        const channel = {};
        advanced.initMessageChannel(channel);
        const messages = [...advanced.parseChannelMessages(channel, Buffer.concat([prefix, body]))];
        assert.strictEqual(messages.length, 1);
        return messages[0];
      },
    };
  } catch {
    class Serializer extends v8.DefaultSerializer {
      _writeHostObject(object) {
        if (ArrayBuffer.isView(object)) {
          this.writeUint32(0);
          return super._writeHostObject(object);
        }
        this.writeUint32(1);
        this.writeValue({ ...object });
      }
    }
    class Deserializer extends v8.DefaultDeserializer {
      _readHostObject() {
        const tag = this.readUint32();
        if (tag === 0) return super._readHostObject();
        assert.strictEqual(tag, 1);
        return this.readValue();
      }
    }
    return {
      source: 'replica',
      encode(value) {
        const s = new Serializer();
        s.writeHeader();
        s.writeValue(value);
        return s.releaseBuffer();
      },
      decode(body) {
        const d = new Deserializer(body);
        d.readHeader();
        return d.readValue();
      },
    };
  }
}

function bytes(n, first = 0) {
  return Array.from({ length: n }, (_, i) => (first + i) & 0xff);
}

function withStack(error, stack) {
  error.stack = stack;
  return error;
}

// Each case builds a fresh value; the C++ tests build the same value under the same name.
const cases = {
  undefined: () => undefined,
  null: () => null,
  true: () => true,
  false: () => false,
  int32_zero: () => 0,
  int32_small: () => 42,
  int32_negative: () => -123456,
  int32_max: () => 2147483647,
  int32_min: () => -2147483648,
  double_fraction: () => 1.5,
  double_beyond_int32: () => 2 ** 31,
  double_negative_zero: () => -0,
  double_nan: () => NaN,
  double_infinity: () => Infinity,
  double_negative_infinity: () => -Infinity,
  double_max: () => Number.MAX_VALUE,
  double_min: () => Number.MIN_VALUE,
  bigint_zero: () => 0n,
  bigint_one: () => 1n,
  bigint_minus_one: () => -1n,
  bigint_2_64: () => 2n ** 64n,
  bigint_above_2_64: () => 2n ** 64n + 5n,
  bigint_negative_large: () => -(2n ** 100n + 12345n),
  bigint_int64_min: () => -(2n ** 63n),
  string_empty: () => '',
  string_ascii: () => 'hello world',
  string_latin1: () => 'caf\u00e9 \u00ff',
  string_two_byte: () => 'a\u20acb',
  string_emoji: () => 'I \u{1F600} you',
  string_lone_high: () => '\ud800',
  string_lone_low: () => 'x\udc00y',
  string_reversed_pair: () => '\udc00\ud800',
  string_cjk: () => '\u65e5\u672c\u8a9e',
  string_long: () => 'abc'.repeat(100),
  string_two_byte_padded: () => ['x', '\u20ac'],
  object_empty: () => ({}),
  object_simple: () => ({ a: 1, b: 'x', c: true, d: null, e: undefined }),
  object_nested: () => ({ outer: { inner: { deep: [1, { x: 2 }] } } }),
  object_integer_keys: () => ({ b: 1, 2: 'x', 1: 'y', a: 0 }),
  object_large_index_keys: () => ({ 4294967294: 1, 4294967295: 2, 2147483648: 3, 2147483647: 4 }),
  object_two_byte_key: () => ({ '\u20acuro': 1, '\u00df': 2 }),
  object_empty_key: () => ({ '': 1 }),
  object_negative_zero_value: () => ({ z: -0 }),
  array_empty: () => [],
  array_dense: () => [1, 'a', null, true],
  array_doubles: () => [1.5, 2],
  array_nested: () => [[1, 2], [3, [4]]],
  array_holey: () => [1, , 3], // eslint-disable-line no-sparse-arrays
  array_leading_holes: () => [, , 'x'], // eslint-disable-line no-sparse-arrays
  array_sparse_far: () => { const a = []; a[1000000] = 'far'; return a; },
  array_max_length: () => { const a = []; a.length = 4294967295; return a; },
  array_max_index: () => { const a = []; a[4294967294] = 'end'; return a; },
  array_with_undefined: () => [undefined, 1],
  array_with_property: () => { const a = [1, 2]; a.tag = 't'; return a; },
  array_holey_with_property: () => { const a = [1, , 3]; a.tag = 't'; return a; }, // eslint-disable-line no-sparse-arrays
  map_empty: () => new Map(),
  map_primitives: () => new Map([[1, 'one'], ['two', 2], [null, undefined]]),
  map_object_keys: () => { const k = { id: 1 }; const l = [1]; return new Map([[k, 'object'], [l, k]]); },
  map_nan_key: () => new Map([[NaN, 'nan']]),
  set_empty: () => new Set(),
  set_mixed: () => new Set([1, 'a', 2n, null]),
  set_objects: () => { const o = {}; return new Set([o, [o]]); },
  date_epoch: () => new Date(0),
  date_recent: () => new Date(1700000000123),
  date_negative: () => new Date(-86400001),
  date_invalid: () => new Date(NaN),
  date_far: () => new Date(8.64e15),
  regexp_simple: () => /ab+c/,
  regexp_all_flags: () => /x/dgimsuy,
  regexp_unicode_sets: () => /[\p{L}--[a-z]]/v,
  regexp_escaped_slash: () => new RegExp('a/b'),
  regexp_two_byte: () => new RegExp('\u20ac+', 'u'),
  regexp_empty: () => new RegExp(''),
  array_buffer_empty: () => new ArrayBuffer(0),
  array_buffer: () => new Uint8Array(bytes(16)).buffer,
  array_buffer_resizable: () => {
    const b = new ArrayBuffer(4, { maxByteLength: 16 });
    new Uint8Array(b).set([1, 2, 3, 4]);
    return b;
  },
  typed_int8: () => new Int8Array([-128, 0, 127]),
  typed_uint8: () => new Uint8Array([0, 255]),
  typed_uint8_clamped: () => new Uint8ClampedArray([0, 128, 255]),
  typed_int16: () => new Int16Array([-32768, 1, 32767]),
  typed_uint16: () => new Uint16Array([0, 65535]),
  typed_int32: () => new Int32Array([-2147483648, 2147483647]),
  typed_uint32: () => new Uint32Array([0, 4294967295]),
  typed_float32: () => new Float32Array([1.5, -0, NaN]),
  typed_float64: () => new Float64Array([Math.PI, -Infinity]),
  typed_bigint64: () => new BigInt64Array([-1n, 2n ** 62n]),
  typed_biguint64: () => new BigUint64Array([2n ** 64n - 1n]),
  typed_empty: () => new Float64Array(0),
  typed_subview: () => new Uint16Array(new Uint8Array(bytes(8, 1)).buffer, 2, 2),
  data_view: () => new DataView(new Uint8Array([1, 2, 3, 4]).buffer),
  buffer: () => Buffer.from([1, 2, 3]),
  buffer_empty: () => Buffer.alloc(0),
  buffer_text: () => Buffer.from('hello'),
  error_plain: () => withStack(new Error('boom'), 'Error: boom\n    at test'),
  error_range: () => withStack(new RangeError('out of range'), 'RangeError: out of range'),
  error_with_cause: () => withStack(new TypeError('bad', { cause: { code: 42 } }), 'TypeError: bad'),
  error_no_message: () => withStack(new Error(), 'Error'),
  error_kinds: () => [
    withStack(new EvalError('e'), 'E'),
    withStack(new ReferenceError('r'), 'R'),
    withStack(new SyntaxError('s'), 'S'),
    withStack(new URIError('u'), 'U'),
  ],
  // Node 20 writes this but cannot read it back (its own cause refers to the Error).
  error_self_cause: () => {
    const e = withStack(new Error('self'), 'Error: self');
    Object.defineProperty(e, 'cause', { value: e, enumerable: false, writable: true, configurable: true });
    return e;
  },
  circular_object: () => { const o = { name: 'root' }; o.self = o; return o; },
  circular_array: () => { const a = [1]; a.push(a); return a; },
  circular_nested: () => {
    const root = { child: {} };
    root.child.parent = root;
    root.child.list = [root, root.child];
    return root;
  },
  shared_object: () => { const o = { v: 1 }; return { x: o, y: o, z: [o] }; },
  circular_map: () => { const m = new Map(); m.set('me', m); m.set(m, 'key'); return m; },
  circular_set: () => { const s = new Set(); s.add(s); return s; },
  shared_date: () => { const d = new Date(1); return [d, d]; },
  shared_buffer: () => { const b = Buffer.from([9]); return [b, b]; },
  shared_regexp: () => { const r = /r/g; return { a: r, b: r }; },
  internal_online: () => ({ cmd: 'NODE_CLUSTER', act: 'online', seq: 0 }),
  internal_handle: () => ({
    cmd: 'NODE_HANDLE',
    type: 'net.Native',
    msg: { cmd: 'NODE_CLUSTER', act: 'newconn', key: 0, seq: 3 },
  }),
  // A user message sent with a handle: the payload keeps its types, and its back-reference
  // counts the envelope (object id 0).
  handle_envelope: () => {
    const inner = { big: 12345678901234567890n, m: new Map([[1, 'a']]), buf: Buffer.from([1, 2]) };
    inner.self = inner;
    return { cmd: 'NODE_HANDLE', type: 'net.Socket', msg: inner };
  },
  mixed_message: () => ({
    n: 1,
    s: 'str',
    big: 10n,
    date: new Date(5),
    re: /x/g,
    map: new Map([['k', new Set([1])]]),
    buf: Buffer.from('ab'),
    nested: [{}, []],
  }),
  nested_deep_100: () => {
    let v = 'bottom';
    for (let i = 0; i < 100; ++i) v = [v];
    return v;
  },
  // Node writes these; cocluster reads them as their primitive values.
  wrapper_string: () => new String('s'), // eslint-disable-line no-new-wrappers
  wrapper_number: () => new Number(1.5), // eslint-disable-line no-new-wrappers
  wrapper_boolean: () => new Boolean(true), // eslint-disable-line no-new-wrappers
  wrapper_bigint: () => Object(5n),
  wrappers_shared: () => { const s = new String('s'); return [s, s]; }, // eslint-disable-line no-new-wrappers
};

// assert.deepStrictEqual(new Date(NaN), new Date(NaN)) fails (NaN !== NaN): compare those
// cases by hand.
const customChecks = {
  date_invalid(actual) {
    assert(actual instanceof Date, 'not a Date');
    assert(Number.isNaN(actual.getTime()), 'not an invalid Date');
  },
};

function readLines() {
  return fs.readFileSync(0, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
}

function main() {
  const codec = makeCodec();
  const mode = process.argv[2];
  if (mode === 'emit') {
    for (const [name, make] of Object.entries(cases))
      process.stdout.write(`${name} ${Buffer.from(codec.encode(make())).toString('hex')}\n`);
  } else if (mode === 'check') {
    let failures = 0;
    for (const line of readLines()) {
      const [name, hex] = line.split(' ');
      try {
        if (!(name in cases)) throw new Error('unknown case');
        const decoded = codec.decode(Buffer.from(hex || '', 'hex'));
        (customChecks[name] || assert.deepStrictEqual)(decoded, cases[name]());
        process.stdout.write(`ok ${name}\n`);
      } catch (e) {
        failures++;
        process.stdout.write(`FAIL ${name}: ${String(e.message).split('\n').join(' | ')}\n`);
      }
    }
    process.exitCode = failures === 0 ? 0 : 1;
  } else if (mode === 'echo') {
    for (const line of readLines()) {
      const [name, hex] = line.split(' ');
      try {
        const decoded = codec.decode(Buffer.from(hex || '', 'hex'));
        process.stdout.write(`${name} ${Buffer.from(codec.encode(decoded)).toString('hex')}\n`);
      } catch (e) {
        process.stdout.write(`${name} ERROR ${String(e.message).split('\n').join(' | ')}\n`);
      }
    }
  } else if (mode === 'corpus') {
    const dir = process.argv[3];
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, make] of Object.entries(cases))
      fs.writeFileSync(path.join(dir, name), codec.encode(make()));
  } else if (mode === 'capture') {
    // A child whose IPC channel (fd 3, advanced mode) is a plain pipe read here byte for byte.
    const { spawn } = require('child_process');
    const names = process.argv.slice(3);
    const child = spawn(process.execPath, [__filename, 'send', ...names], {
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
      env: { ...process.env, NODE_CHANNEL_FD: '3', NODE_CHANNEL_SERIALIZATION_MODE: 'advanced' },
    });
    const chunks = [];
    child.stdio[3].on('data', (data) => chunks.push(data));
    child.on('exit', (code) => {
      // Frames come in pairs: the case's frame, then its name as a string message (or, when
      // process.send() refused the case, the error code and the name with " REFUSED").
      let raw = Buffer.concat(chunks);
      const next = () => {
        const length = raw.readUInt32BE(0);
        const body = raw.subarray(4, 4 + length);
        raw = raw.subarray(4 + length);
        return body;
      };
      while (raw.length >= 8) {
        const frame = next();
        const name = codec.decode(next());
        if (name.endsWith(' REFUSED'))
          process.stdout.write(`${name} ${codec.decode(frame)}\n`);
        else
          process.stdout.write(`${name} ${frame.toString('hex')}\n`);
      }
      process.exitCode = code === 0 && raw.length === 0 ? 0 : 1;
    });
  } else if (mode === 'send') {
    const names = process.argv.slice(3);
    let pending = 0;
    const sent = () => { if (--pending === 0) process.disconnect(); };
    for (const name of names) {
      pending += 2;
      try {
        process.send(cases[name](), sent);
        process.send(name, sent);
      } catch (e) {
        process.send(String(e.code), sent);
        process.send(`${name} REFUSED`, sent);
      }
    }
  } else if (mode === 'source') {
    process.stdout.write(`${codec.source}\n`);
  } else {
    process.stderr.write('usage: node --expose-internals v8_vectors.js emit|check|echo|corpus DIR|capture NAME...|source\n');
    process.exitCode = 2;
  }
}

main();
