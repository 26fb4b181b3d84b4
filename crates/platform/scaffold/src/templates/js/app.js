// The {{name}} plugin: `describe` says who it is and what it can do, `handle` runs one task.
//
// Build it with ./build.sh (writes {{name}}.wasm); check it with ./test.sh.
// What it prints (console.log, console.error, uncaught errors) is kept in the task's plugin
// log (`baton show ID`).
import { log } from 'baton:plugin/host@{{wit_version}}';

// The params of `hello`, as JSON Schema: baton checks every TASK against it before the plugin
// runs. No property is required, so `{}` is valid.
const HELLO_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'Who to greet (default: world).' },
  },
  additionalProperties: false,
};

// Asks the TASK's sender a question: the answer (checked by baton against `schema`, a JSON
// Schema) once it was given, else the TASK waits for it (`input_required`; nothing of the plugin
// is kept running) and the plugin runs again from the start with the answer in `task.inputs`.
// So ask in the same order each run, and do nothing that cannot be done twice before the last
// question. `requestId` names the question, the same each run.
function ask(task, requestId, message, schema) {
  const inputs = JSON.parse(task.inputs || '{}');
  if (Object.hasOwn(inputs, requestId)) return inputs[requestId];
  throw { tag: 'needs-input', val: { requestId, message, inputSchema: JSON.stringify(schema) } };
}

function hello(task, params) {
  const name = params.name ?? 'world';
  log('info', `greeting ${name}`);
  const greeting = `Hello, ${name}!`;
  return { summary: greeting, result: JSON.stringify({ greeting }), artifacts: [] };
}

// The answer `greet` asks for.
const NAME_SCHEMA = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] };

function greet(task, params) {
  // Asks who to greet (`baton answer ID --input '{"name": "Ada"}'` answers it).
  const answer = ask(task, 'name', 'Who should I greet?', NAME_SCHEMA);
  const greeting = `Hello, ${answer.name}!`;
  return { summary: greeting, result: JSON.stringify({ greeting }), artifacts: [] };
}

const ACTIONS = { hello, greet };

export function describe() {
  return {
    name: '{{name}}',
    version: '0.1.0',
    description: 'An example plugin: greets whoever params.name says.',
    actions: [
      { name: 'hello', description: 'Greets params.name.', paramsSchema: JSON.stringify(HELLO_SCHEMA) },
      { name: 'greet', description: 'Asks who to greet, then greets them.', paramsSchema: JSON.stringify({ type: 'object' }) },
    ],
    folders: [],
  };
}
{{js_catalog_access}}
export function handle(task) {
  const action = ACTIONS[task.action];
  if (!action) {
    // A failure the sender can fix: answered `failed` with this message, not retried. Throw
    // a `failure` variant ({tag, val}) for an error the host should see as such.
    throw { tag: 'invalid-input', val: `unknown action ${task.action}; actions: ${Object.keys(ACTIONS).join(', ')}` };
  }
  try {
    return action(task, JSON.parse(task.params));
  } catch (e) {
    // An uncaught Error ends the task as a trap. Its stack (each frame's function, file and
    // line) goes to stderr first: stderr is kept in the plugin log (`baton show ID`) and its
    // last lines are quoted in the RETURN's error message.
    if (e instanceof Error && e.stack) console.error(`${e.name}: ${e.message}\n${e.stack}`);
    throw e;
  }
}
