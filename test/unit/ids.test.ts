import { expect } from 'chai';
import { ID_PATTERN, newId } from '../../server/store/ids.js';

describe('record ids', () => {
  it('are 24 lowercase hex characters, unique, and start with the creation second as an ObjectId does', () => {
    const before = Math.floor(Date.now() / 1000);
    const ids = Array.from({ length: 20_000 }, () => newId());
    const after = Math.floor(Date.now() / 1000);
    for (const id of ids) expect(id).to.match(ID_PATTERN);
    expect(new Set(ids).size).to.equal(ids.length);
    const second = parseInt(ids[0]!.slice(0, 8), 16);
    expect(second).to.be.within(before, after);
  });

  it('made one after another in a process sort in that order (unless the 24-bit counter just wrapped)', () => {
    const a = newId();
    const b = newId();
    const wrapped = parseInt(b.slice(18), 16) === 0;
    expect(b > a || wrapped).to.equal(true);
  });
});
