import { expect } from 'chai';
import { ownEchoTest } from '../../server/cluster/own-echoes.js';

/** The classic adapter's message as notepack encodes it: [uid, packet, opts], uid a fixstr. */
function classicMessage(uid: string): Buffer {
  const uidBytes = Buffer.from(uid);
  return Buffer.concat([Buffer.from([0x93, 0xa0 | uidBytes.length]), uidBytes, Buffer.from([0x80, 0x80])]);
}

/** The sharded adapter's message as ClusterAdapter builds it and JSON encodes it. */
function shardedMessage(uid: string, nsp: string): Buffer {
  return Buffer.from(JSON.stringify({ type: 2, data: { packet: { type: 2, data: ['ev', { uid }] }, opts: { rooms: ['r'], except: [] } }, uid, nsp }));
}

describe('ownEchoTest', () => {
  it("recognises the classic adapter's own messages by the uid they start with, and no other node's", () => {
    const isEcho = ownEchoTest('classic', 'AbC-_1', '/');
    expect(isEcho(classicMessage('AbC-_1'))).to.equal(true);
    expect(isEcho(classicMessage('AbC-_2'))).to.equal(false);
    expect(isEcho(classicMessage('AbC-_12'))).to.equal(false);
    // A request or response is a map (0x8…), never an array.
    expect(isEcho(Buffer.concat([Buffer.from([0x83, 0xa3]), Buffer.from('uid'), Buffer.from([0xa6]), Buffer.from('AbC-_1')]))).to.equal(false);
  });

  it("recognises the sharded adapter's own messages by the uid and namespace they end with, and no other's", () => {
    const isEcho = ownEchoTest('sharded', '0123456789abcdef', '/');
    expect(isEcho(shardedMessage('0123456789abcdef', '/'))).to.equal(true);
    expect(isEcho(shardedMessage('fedcba9876543210', '/'))).to.equal(false);
    expect(isEcho(shardedMessage('0123456789abcdef', '/admin'))).to.equal(false);
    // Binary payloads go as msgpack, whose end is not this JSON: left to the adapter.
    expect(isEcho(Buffer.from([0x84, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x02]))).to.equal(false);
  });

  it('takes nothing shorter than the mark itself for an echo', () => {
    expect(ownEchoTest('classic', 'AbC-_1', '/')(classicMessage('AbC-_1').subarray(0, 8))).to.equal(false);
    expect(ownEchoTest('sharded', '0123456789abcdef', '/')(Buffer.from(',"uid":"0123456789abcdef","nsp":"/"}'))).to.equal(false);
  });
});
