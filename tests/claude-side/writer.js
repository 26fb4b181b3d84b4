// Claude Code's side of a team inbox, for baton's tests: N times, under proper-lockfile's lock
// on the inbox (the lock library Claude Code's own inbox writes use: `mkdir INBOX.lock`, its
// mtime refreshed while held, stale after 10 s), it reads the inbox, marks every message from
// another sender read (Claude Code queues them for its agent's next turn) and appends one of its
// own, then writes the whole array back, as Claude Code does. Prints how many it appended.
//
//   node writer.js INBOX N SENDER [PAUSE_MS]
const fs = require('fs');
const lockfile = require('proper-lockfile');

const [inbox, count, sender, pause] = [process.argv[2], Number(process.argv[3]), process.argv[4], Number(process.argv[5] || 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  let n = 0;
  for (let i = 0; i < count; i++) {
    const release = await lockfile.lock(inbox, {
      realpath: false, stale: 10000, retries: { retries: 1000, minTimeout: 1, maxTimeout: 50 },
    });
    try {
      const msgs = JSON.parse(fs.readFileSync(inbox, 'utf8'));
      for (const m of msgs) if (m.from !== sender) m.read = true;
      msgs.push({ from: sender, text: `${sender} ${i}`, timestamp: new Date().toISOString(), read: false });
      fs.writeFileSync(inbox, JSON.stringify(msgs, null, 2));
      n++;
    } finally {
      await release();
    }
    await sleep(pause);
  }
  console.log(n);
})().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
