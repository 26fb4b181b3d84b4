// Claude Code's side of a team inbox, for baton's tests. Every change is made as Claude Code
// makes it: under proper-lockfile's lock on the inbox (the lock library Claude Code's own inbox
// writes use: `mkdir INBOX.lock`, its mtime refreshed while held, stale after 10 s), the inbox
// read, changed, and the whole array written back.
//
//   node writer.js INBOX N SENDER [PAUSE_MS]   N times: marks every message from another sender
//                                              read (Claude Code queues them for its agent's
//                                              next turn) and appends one of its own
//                                              ("SENDER I"); prints how many it appended
//   node writer.js --notice INBOX TEXT         marks the messages whose text is TEXT read
//   node writer.js --write INBOX SENDER TEXT   appends one message from SENDER (a teammate
//                                              writing back)
//   node writer.js --clear INBOX               empties the inbox
const fs = require('fs');
const lockfile = require('proper-lockfile');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One change under the lock: `change` gets the messages and returns the ones to write.
async function locked(inbox, change) {
  const release = await lockfile.lock(inbox, {
    realpath: false, stale: 10000, retries: { retries: 1000, minTimeout: 1, maxTimeout: 50 },
  });
  try {
    // An inbox not there yet is empty: Claude Code makes it on the first message to it.
    const msgs = fs.existsSync(inbox) ? JSON.parse(fs.readFileSync(inbox, 'utf8')) : [];
    fs.writeFileSync(inbox, JSON.stringify(change(msgs), null, 2));
  } finally {
    await release();
  }
}

const message = (from, text) => ({ from, text, timestamp: new Date().toISOString(), read: false });

async function main(args) {
  switch (args[0]) {
    case '--notice': {
      const [inbox, text] = args.slice(1);
      let n = 0;
      await locked(inbox, (msgs) => {
        for (const m of msgs) if (m.text === text && !m.read) { m.read = true; n++; }
        return msgs;
      });
      if (n === 0) throw new Error(`no unread message with that text in ${inbox}`);
      return n;
    }
    case '--write': {
      const [inbox, from, text] = args.slice(1);
      await locked(inbox, (msgs) => msgs.concat([message(from, text)]));
      return 1;
    }
    case '--clear':
      await locked(args[1], () => []);
      return 0;
    default: {
      const [inbox, count, sender, pause] = [args[0], Number(args[1]), args[2], Number(args[3] || 2)];
      let n = 0;
      for (let i = 0; i < count; i++) {
        await locked(inbox, (msgs) => {
          for (const m of msgs) if (m.from !== sender) m.read = true;
          return msgs.concat([message(sender, `${sender} ${i}`)]);
        });
        n++;
        await sleep(pause);
      }
      return n;
    }
  }
}

main(process.argv.slice(2))
  .then((n) => console.log(n))
  .catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
