import { expect } from 'chai';
import { Decoder, Encoder, PacketType, type Packet } from 'socket.io-parser';
import { JsonEncoder } from '../../server/gateway/json-parser.js';

const packets: Packet[] = [
  { type: PacketType.CONNECT, nsp: '/', data: { sid: 'abc' } },
  { type: PacketType.CONNECT_ERROR, nsp: '/', data: { message: 'unauthorized', data: { code: 'unauthorized' } } },
  { type: PacketType.DISCONNECT, nsp: '/' },
  { type: PacketType.EVENT, nsp: '/', data: ['message:new', { id: 'a'.repeat(24), text: 'héllo "quoted" \u2028', seq: 7, meta: null }] },
  { type: PacketType.EVENT, nsp: '/', id: 12, data: ['message:send', { text: 'x' }] },
  { type: PacketType.ACK, nsp: '/', id: 0, data: [{ ok: true }] },
  { type: PacketType.EVENT, nsp: '/admin', id: 3, data: ['ping'] },
  { type: PacketType.EVENT, nsp: '/', data: ['presence', null] },
];

describe('the JSON-only socket encoder', () => {
  it('writes exactly what the default Socket.IO encoder writes for every non-binary packet', () => {
    const ours = new JsonEncoder();
    const theirs = new Encoder();
    for (const packet of packets) expect(ours.encode(packet), JSON.stringify(packet)).to.deep.equal(theirs.encode(packet));
  });

  it('writes packets the default decoder reads back unchanged', () => {
    const decoded: unknown[] = [];
    const decoder = new Decoder();
    decoder.on('decoded', (packet: unknown) => decoded.push(packet));
    const encoder = new JsonEncoder();
    for (const packet of packets) for (const chunk of encoder.encode(packet)) decoder.add(chunk);
    expect(decoded).to.have.length(packets.length);
    expect((decoded[3] as Packet).data).to.deep.equal(packets[3]!.data);
    expect((decoded[4] as Packet).id).to.equal(12);
  });

  it('sends a Buffer as its JSON form, never as a binary attachment', () => {
    const [encoded, ...attachments] = new JsonEncoder().encode({ type: PacketType.EVENT, nsp: '/', data: ['file', Buffer.from('hi')] });
    expect(attachments).to.have.length(0);
    expect(encoded).to.equal('2["file",{"type":"Buffer","data":[104,105]}]');
  });
});
